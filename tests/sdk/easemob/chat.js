// Easemob's own web SDK (`easemob-websdk` 4.21.1, or `agora-chat` 1.4.0 with
// the first argument `agora`) against a running confab, one user per
// process. The SDK is a browser bundle: the few browser globals it reads
// are set below (Node's `ws` and `xhr2` stand in for the browser's
// WebSocket and XMLHttpRequest); the SDK itself runs unchanged. It is
// pointed at confab the way a self-hosted deployment is: `isHttpDNS:
// false`, `url` (the socket) and `apiUrl` (the REST API).
//
// The Rust test (tests/api/easemob_sdk.rs) runs these steps and reads what
// they print, one JSON object per line:
//   listen USER PASSWORD [N]   logs in, prints {"opened"}, then the first N (1)
//                       messages it receives ({"received": text, "type",
//                       "from", "to", "id", "chatType", "ext"}), and exits
//   send USER PASSWORD TO TEXT  logs in, sends a text to user TO, prints
//                       {"sent": server id}, and logs out
//   gsend USER PASSWORD GROUP TEXT  the same to a group
//   wrong USER PASSWORD  logs in with a wrong password; prints {"refused": type, "message"}
//   token USER TOKEN     logs in with a user token (no REST call); prints {"opened"}
//   refused USER PASSWORD GROUP TEXT  logs in, sends a text to GROUP; prints
//                       {"refused": type, "message"} (the SDK's error for the
//                       server's refusal) or {"sent"}
//   kicked USER PASSWORD  logs in, prints {"opened"}, then the first error
//                       event ({"error": type, "message"}) and exits
// Usage: node chat.js websdk|agora http://127.0.0.1:PORT ORG#APP STEP USER ...

const WebSocket = require('ws');
const XMLHttpRequest = require('xhr2');

// The browser globals the bundle reads when it loads and connects.
const store = new Map();
globalThis.self = globalThis;
globalThis.window = globalThis;
// CONFAB_SDK_LOG=1 also logs each frame from the server (to stderr).
class LoggedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    if (process.env.CONFAB_SDK_LOG) {
      this.on('message', (data) => console.error('frame in', Buffer.from(data).toString('hex').slice(0, 120)));
      this.on('close', (code) => console.error('closed', code));
    }
  }
}
globalThis.WebSocket = LoggedWebSocket;
globalThis.XMLHttpRequest = XMLHttpRequest;
globalThis.localStorage = {
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
  clear: () => store.clear(),
};
globalThis.document = { addEventListener() {}, removeEventListener() {}, hidden: false, cookie: '' };
globalThis.location = { protocol: 'http:', href: 'http://localhost/', hostname: 'localhost' };
if (!globalThis.navigator) globalThis.navigator = { userAgent: 'node', onLine: true };

// The SDK logs to the console; stdout is for the test's lines only.
const print = (object) => process.stdout.write(`${JSON.stringify(object)}\n`);
for (const level of ['log', 'info', 'warn', 'debug', 'trace']) console[level] = console.error;

const [, , flavor, server, appKey, step, user, ...rest] = process.argv;
const pkg = flavor === 'agora' ? 'agora-chat' : 'easemob-websdk';
const loaded = require(pkg);
const SDK = loaded.default || loaded;
const fail = (why) => {
  print({ error: why });
  process.exit(1);
};
setTimeout(() => fail(`${step}: nothing within 20 s`), 20000);

function connection() {
  return new SDK.connection({
    appKey,
    isHttpDNS: false,
    url: `${server.replace(/^http/, 'ws')}/websocket`,
    apiUrl: server,
    delivery: true,
  });
}

// What the SDK hands the app for a message, as the test compares it.
function shown(message) {
  return {
    received: message.msg !== undefined ? message.msg : null,
    type: message.type,
    from: message.from,
    to: message.to,
    id: message.id,
    chatType: message.chatType,
    ext: message.ext || {},
  };
}

async function main() {
  const conn = connection();
  if (step === 'wrong') {
    try {
      await conn.open({ user, pwd: rest[0] });
      print({ opened: user });
    } catch (error) {
      print({ refused: error.type, message: error.message });
    }
    process.exit(0);
  }
  if (step === 'token') {
    await conn.open({ user, accessToken: rest[0] });
    print({ opened: user });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  const [password] = rest;
  if (step === 'listen' || step === 'kicked') {
    const want = Number(rest[1] || 1);
    let heard = 0;
    conn.addEventHandler('test', {
      onTextMessage: (message) => {
        print(shown(message));
        heard += 1;
        if (step === 'listen' && heard === want) setTimeout(() => process.exit(0), 300);
      },
      onError: (error) => {
        if (step === 'kicked') {
          print({ error: error.type, message: error.message });
          setTimeout(() => process.exit(0), 100);
        }
      },
    });
    await conn.open({ user, pwd: password });
    print({ opened: user });
    return;
  }
  if (step === 'send' || step === 'gsend' || step === 'refused') {
    const [, to, text] = rest;
    await conn.open({ user, pwd: password });
    const chatType = step === 'send' ? 'singleChat' : 'groupChat';
    const message = SDK.message.create({ type: 'txt', chatType, to, msg: text, ext: { k: 'v' } });
    try {
      const { serverMsgId } = await conn.send(message);
      print({ sent: serverMsgId });
    } catch (error) {
      print({ refused: error.type, message: error.message });
    }
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  fail(`unknown step ${step}`);
}

main().catch((error) => fail(String(error && (error.message || error.type) ? `${error.type}: ${error.message}` : error)));
