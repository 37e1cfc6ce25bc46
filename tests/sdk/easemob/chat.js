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
//                       "from", "to", "id", "chatType", "ext"}, with the
//                       content's fields for other types; {"recalled": id}
//                       for a recall), and exits
//   send USER PASSWORD TO TEXT  logs in, sends a text to user TO, prints
//                       {"sent": server id}, and logs out
//   gsend USER PASSWORD GROUP TEXT  the same to a group
//   wrong USER PASSWORD  logs in with a wrong password; prints {"refused": type, "message"}
//   token USER TOKEN     logs in with a user token (no REST call); prints {"opened"}
//   refused USER PASSWORD GROUP TEXT  logs in, sends a text to GROUP; prints
//                       {"refused": type, "message"} (the SDK's error for the
//                       server's refusal) or {"sent"}
//   refused1 USER PASSWORD TO TEXT  the same to a user
//   receipts USER PASSWORD TO  logs in, sends a text to TO, prints {"sent"},
//                       then {"delivered": id} and {"read": id} as TO's receipts come
//   reader USER PASSWORD  logs in, prints {"opened"}, then the first text
//                       ({"received", "id"}; the SDK sends its delivery receipt
//                       itself), sends a read receipt for it; prints {"read": id}
//   recall USER PASSWORD TO  logs in, sends a text to TO and recalls it;
//                       prints {"sent": id, "recalled": true}
//   room USER PASSWORD ROOM [TEXT]  logs in, joins the chat room, prints
//                       {"joined": ROOM, "allMuted", "muteUntil", "members"}
//                       (the room's state the join told the SDK); with TEXT says it there ({"sent"}),
//                       otherwise waits for the first message there ({"received"})
//   kinds USER PASSWORD TO  logs in, sends TO a location, a command and a
//                       custom message; prints {"sent": [ids]}
//   events USER PASSWORD N  logs in, prints {"opened"}, then the first N group
//                       and chat-room events ({"group" or "room": operation,
//                       "id", "from", "userId"}), and exits
//   image USER PASSWORD TO  logs in, sends TO a small PNG as the SDK does it
//                       (its own upload to the REST `chatfiles`, then the
//                       message); prints {"sent": id, "url"}
//   files USER PASSWORD TO  logs in, sends TO a voice clip, a video and a
//                       file, each uploaded by the SDK first; prints
//                       {"sent": [ids], "urls": [urls]}
//   lists USER PASSWORD PEER GROUP  logs in and prints what the SDK's own
//                       REST calls list: {"contacts", "groups" (ids),
//                       "roles" (id: role), "conversations" ([id, type,
//                       unread, last text]), "history" (texts with PEER,
//                       newest first), "groupPages" (GROUP's texts, one per
//                       page, following the cursor), "oldestFirst"}
//   edit USER PASSWORD TO [N] [ID]  logs in, sends TO a text ({"sent": id})
//                       unless given the ID of a message to edit, then edits
//                       it N (1) times with modifyMessage, printing
//                       {"edited": id, "msg", "count", "operator"} for each,
//                       or {"refused": type, "message"}
//   burst USER PASSWORD TO N  logs in, sends TO N texts at once; prints
//                       {"sent": how many were acknowledged, "refused": the
//                       SDK's error types of the others}
//   channel USER PASSWORD PEER N  logs in, waits for N texts, reads the
//                       conversation with PEER (a channel ack), then prints
//                       {"unread": [[conversation, unread count], …]} from
//                       the SDK's conversation list
//   thread USER PASSWORD create GROUP MSGID NAME  creates a thread under a
//                       group message; prints {"created": thread ID}
//   thread USER PASSWORD say THREAD TEXT  says TEXT in a thread; {"sent"}
//   thread USER PASSWORD list GROUP  the SDK's thread listings: {"threads"
//                       (the group's), "joined" (the user's): [[id, parentId,
//                       messageId, name], …]}
//   thread USER PASSWORD destroy THREAD  ends a thread; {"destroyed"}
//   threads USER PASSWORD N  logs in, prints {"opened"}, then the first N
//                       thread changes ({"thread": operation, "id",
//                       "parentId", "messageId", "name", "operator"}; it
//                       joins each new thread and prints {"joined": id}) and
//                       texts ({"received", "to", "chatThread"}), and exits
//   group USER PASSWORD ACTION ...  the SDK's group management with the
//                       user's own token: `create NAME MEMBERS` ({"created":
//                       id}), `invite ID USERS`, `remove ID USER`, `members ID`
//                       ({"members": sorted names}), `quit ID`, `destroy ID`
//                       ({"done": action}); a refusal prints {"refused": type}
//   kicked USER PASSWORD [DEVICE]  logs in (as the device DEVICE: its
//                       resource), prints {"opened"}, then the first error
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
// A browser's XMLHttpRequest sends FormData (the SDK's file upload);
// xhr2 does not, so a FormData body is encoded first, as a browser would.
class FormDataXMLHttpRequest extends XMLHttpRequest {
  send(body) {
    if (!(body instanceof FormData)) return super.send(body);
    const encoded = new Response(body);
    encoded.arrayBuffer().then((bytes) => {
      this.setRequestHeader('Content-Type', encoded.headers.get('content-type'));
      super.send(Buffer.from(bytes));
    });
    return undefined;
  }
}
globalThis.XMLHttpRequest = FormDataXMLHttpRequest;
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

// A fixed device (the SDK keeps its resource in localStorage, as a browser
// would across reloads): `kicked USER PASSWORD DEVICE`.
function useDevice(device) {
  const info = { deviceId: `webim_web_${device}`, deviceName: 'webim', deviceUuid: `web_${device}` };
  localStorage.setItem('localDeviceInfo', JSON.stringify(info));
}

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
  if (step === 'kicked' && rest[1]) useDevice(rest[1]);
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
    const hear = (object) => {
      print(object);
      heard += 1;
      if (step === 'listen' && heard === want) setTimeout(() => process.exit(0), 300);
    };
    conn.addEventHandler('test', {
      onTextMessage: (message) => hear(shown(message)),
      onLocationMessage: (m) => hear({ ...shown(m), lat: m.lat, lng: m.lng, addr: m.addr }),
      onImageMessage: (m) => hear({ ...shown(m), url: m.url, width: m.width, height: m.height }),
      onAudioMessage: (m) => hear({ ...shown(m), url: m.url, filename: m.filename, length: m.length }),
      onVideoMessage: (m) => hear({ ...shown(m), url: m.url, filename: m.filename, length: m.length }),
      onFileMessage: (m) => hear({ ...shown(m), url: m.url, filename: m.filename }),
      onCmdMessage: (m) => hear({ ...shown(m), action: m.action }),
      onCustomMessage: (m) => hear({ ...shown(m), customEvent: m.customEvent, customExts: m.customExts }),
      onRecallMessage: (m) => hear({ recalled: m.mid, from: m.from }),
      onModifiedMessage: (m) => hear({
        modified: m.id, msg: m.msg, from: m.from, ext: m.ext || {},
        count: m.modifiedInfo && m.modifiedInfo.operationCount,
        operator: m.modifiedInfo && m.modifiedInfo.operatorId,
      }),
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
  if (step === 'events') {
    const want = Number(rest[1] || 1);
    let heard = 0;
    const hear = (kind) => (event) => {
      const userId = event.userId === undefined ? null : event.userId;
      print({ [kind]: event.operation, id: event.id, from: event.from || null, userId });
      heard += 1;
      if (heard === want) setTimeout(() => process.exit(0), 300);
    };
    conn.addEventHandler('test', { onGroupEvent: hear('group'), onChatroomEvent: hear('room') });
    await conn.open({ user, pwd: password });
    print({ opened: user });
    return;
  }
  if (step === 'receipts') {
    const [, to] = rest;
    let waiting = 2;
    const done = () => {
      waiting -= 1;
      if (waiting === 0) setTimeout(() => process.exit(0), 200);
    };
    conn.addEventHandler('test', {
      onDeliveredMessage: (m) => {
        print({ delivered: m.mid });
        done();
      },
      onReadMessage: (m) => {
        print({ read: m.mid });
        done();
      },
    });
    await conn.open({ user, pwd: password });
    const message = SDK.message.create({ type: 'txt', chatType: 'singleChat', to, msg: 'did you get this?' });
    const { serverMsgId } = await conn.send(message);
    print({ sent: serverMsgId });
    return;
  }
  if (step === 'reader') {
    conn.addEventHandler('test', {
      onTextMessage: async (message) => {
        print({ received: message.msg, id: message.id });
        const read = SDK.message.create({ type: 'read', chatType: 'singleChat', to: message.from, id: message.id });
        await conn.send(read);
        print({ read: message.id });
        setTimeout(() => process.exit(0), 300);
      },
    });
    await conn.open({ user, pwd: password });
    print({ opened: user });
    return;
  }
  if (step === 'recall') {
    const [, to] = rest;
    await conn.open({ user, pwd: password });
    const message = SDK.message.create({ type: 'txt', chatType: 'singleChat', to, msg: 'oops' });
    const { serverMsgId } = await conn.send(message);
    await conn.recallMessage({ mid: serverMsgId, to, chatType: 'singleChat' });
    print({ sent: serverMsgId, recalled: true });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'room') {
    const [, roomId, text] = rest;
    conn.addEventHandler('test', {
      onTextMessage: (message) => {
        print({ received: message.msg, from: message.from, to: message.to, chatType: message.chatType });
        setTimeout(() => process.exit(0), 300);
      },
    });
    await conn.open({ user, pwd: password });
    const joined = await conn.joinChatRoom({ roomId });
    const info = (joined && joined.data && joined.data.info) || {};
    print({ joined: roomId, allMuted: info.isAllMembersMuted, muteUntil: info.muteExpireTimestamp, members: info.memberCount });
    if (text) {
      const message = SDK.message.create({ type: 'txt', chatType: 'chatRoom', to: roomId, msg: text });
      const { serverMsgId } = await conn.send(message);
      print({ sent: serverMsgId });
      setTimeout(() => process.exit(0), 200);
    }
    return;
  }
  if (step === 'image') {
    const [, to] = rest;
    await conn.open({ user, pwd: password });
    // A 1x1 PNG.
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082', 'hex');
    const file = { data: new File([png], 'dot.png', { type: 'image/png' }), filename: 'dot.png', filetype: 'png' };
    const message = SDK.message.create({ type: 'img', chatType: 'singleChat', to, file, width: 1, height: 1 });
    const { serverMsgId, message: sent } = await conn.send(message);
    print({ sent: serverMsgId, url: (sent && sent.url) || message.url || null });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'files') {
    const [, to] = rest;
    await conn.open({ user, pwd: password });
    const attachments = [
      { type: 'audio', name: 'hello.amr', mime: 'audio/amr', extra: { length: 3 } },
      { type: 'video', name: 'clip.mp4', mime: 'video/mp4', extra: { length: 5 } },
      { type: 'file', name: 'notes.txt', mime: 'text/plain', extra: {} },
    ];
    const sent = [];
    const urls = [];
    for (const a of attachments) {
      const data = new File([Buffer.from(`${a.type} bytes`)], a.name, { type: a.mime });
      const file = { data, filename: a.name, filetype: a.name.split('.').pop() };
      const message = SDK.message.create({ type: a.type, chatType: 'singleChat', to, file, filename: a.name, ...a.extra });
      const { serverMsgId, message: echoed } = await conn.send(message);
      sent.push(serverMsgId);
      urls.push((echoed && echoed.url) || message.url || null);
    }
    print({ sent, urls });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'lists') {
    const [, peer, group] = rest;
    await conn.open({ user, pwd: password });
    const contacts = (await conn.getContacts()).data.map((c) => c.name || c).sort();
    const joined = await conn.getJoinedGroups({ pageNum: 0, pageSize: 20 });
    const groups = joined.data.map((g) => g.groupid);
    const withRoles = await conn.getJoinedGroups({ pageNum: 0, pageSize: 20, needAffiliations: true, needRole: true });
    const roles = {};
    for (const g of withRoles.entities || withRoles.data || []) roles[g.groupId] = [g.role, g.affiliationsCount];
    const listed = await conn.getServerConversations({ pageSize: 20, cursor: '' });
    const conversations = listed.data.conversations.map((c) => [
      c.conversationId, c.conversationType, c.unReadCount, c.lastMessage && c.lastMessage.msg,
    ]);
    const text = (m) => m.msg;
    const history = (await conn.getHistoryMessages({ targetId: peer, chatType: 'singleChat', pageSize: 20 })).messages.map(text);
    const groupPages = [];
    let cursor = -1;
    for (let i = 0; i < 10; i += 1) {
      const page = await conn.getHistoryMessages({ targetId: group, chatType: 'groupChat', pageSize: 1, cursor });
      groupPages.push(page.messages.map(text));
      if (page.isLast || !page.cursor) break;
      cursor = page.cursor;
    }
    const oldest = await conn.getHistoryMessages({ targetId: peer, chatType: 'singleChat', pageSize: 20, searchDirection: 'down' });
    print({ contacts, groups, roles, conversations, history, groupPages, oldestFirst: oldest.messages.map(text) });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'edit') {
    const [, to, times, given] = rest;
    await conn.open({ user, pwd: password });
    let id = given;
    if (!id) {
      const sent = await conn.send(SDK.message.create({ type: 'txt', chatType: 'singleChat', to, msg: 'draft' }));
      id = sent.serverMsgId;
      print({ sent: id });
    }
    for (let i = 1; i <= Number(times || 1); i += 1) {
      const text = `final ${i}`;
      const modifiedMessage = SDK.message.create({ type: 'txt', chatType: 'singleChat', to, msg: text, ext: { v: i } });
      try {
        const result = await conn.modifyMessage({ messageId: id, modifiedMessage });
        const info = result.modifiedInfo || {};
        print({ edited: result.message && result.message.id, msg: result.message && result.message.msg,
                count: info.operationCount, operator: info.operatorId });
      } catch (error) {
        print({ refused: error.type, message: error.message });
      }
    }
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'burst') {
    const [, to, n] = rest;
    await conn.open({ user, pwd: password });
    const sends = [];
    for (let i = 0; i < Number(n); i += 1) {
      sends.push(conn.send(SDK.message.create({ type: 'txt', chatType: 'singleChat', to, msg: `burst ${i}` })));
    }
    const results = await Promise.allSettled(sends);
    const refused = [...new Set(results.filter((r) => r.status === 'rejected').map((r) => r.reason.type))];
    print({ sent: results.filter((r) => r.status === 'fulfilled').length, refused });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'channel') {
    const [, peer, n] = rest;
    let heard = 0;
    conn.addEventHandler('test', {
      onTextMessage: async () => {
        heard += 1;
        if (heard !== Number(n)) return;
        await conn.send(SDK.message.create({ type: 'channel', chatType: 'singleChat', to: peer }));
        setTimeout(async () => {
          const listed = await conn.getServerConversations({ pageSize: 20, cursor: '' });
          print({ unread: listed.data.conversations.map((c) => [c.conversationId, c.unReadCount]) });
          conn.close();
          setTimeout(() => process.exit(0), 200);
        }, 300);
      },
    });
    await conn.open({ user, pwd: password });
    return;
  }
  if (step === 'thread') {
    const [, action, ...args] = rest;
    await conn.open({ user, pwd: password });
    if (action === 'create') {
      const [parentId, messageId, name] = args;
      const made = await conn.createChatThread({ name, messageId, parentId });
      print({ created: made.data.chatThreadId });
    } else if (action === 'say') {
      const [to, msg] = args;
      const message = SDK.message.create({ type: 'txt', chatType: 'groupChat', to, msg, isChatThread: true });
      const { serverMsgId } = await conn.send(message);
      print({ sent: serverMsgId });
    } else if (action === 'list') {
      const ids = (listed) => (listed.entities || []).map((t) => [t.id, t.parentId, t.messageId, t.name]);
      const threads = ids(await conn.getChatThreads({ parentId: args[0], pageSize: 20 }));
      const joined = ids(await conn.getJoinedChatThreads({ pageSize: 20 }));
      print({ threads, joined });
    } else if (action === 'destroy') {
      await conn.destroyChatThread({ chatThreadId: args[0] });
      print({ destroyed: args[0] });
    }
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'threads') {
    const want = Number(rest[1] || 1);
    let heard = 0;
    const hear = (object) => {
      print(object);
      heard += 1;
      if (heard === want) setTimeout(() => process.exit(0), 300);
    };
    conn.addEventHandler('test', {
      onChatThreadChange: async (e) => {
        hear({ thread: e.operation, id: e.id, parentId: e.parentId, messageId: e.messageId, name: e.name, operator: e.operator });
        if (e.operation === 'create') {
          await conn.joinChatThread({ chatThreadId: e.id });
          print({ joined: e.id });
        }
      },
      onTextMessage: (m) => hear({ received: m.msg, to: m.to, chatThread: m.chatThread || null }),
    });
    await conn.open({ user, pwd: password });
    print({ opened: user });
    return;
  }
  if (step === 'group') {
    const [, action, ...args] = rest;
    await conn.open({ user, pwd: password });
    try {
      if (action === 'create') {
        const data = { groupname: args[0], desc: 'made by the SDK', members: args[1].split(','), public: false,
                       approval: false, allowinvites: false, inviteNeedConfirm: false, maxusers: 200 };
        const made = await conn.createGroup({ data });
        print({ created: made.data.groupid });
      } else if (action === 'invite') {
        await conn.inviteUsersToGroup({ groupId: args[0], users: args[1].split(',') });
        print({ done: action });
      } else if (action === 'remove') {
        await conn.removeGroupMember({ groupId: args[0], username: args[1] });
        print({ done: action });
      } else if (action === 'members') {
        const listed = await conn.getGroupMembers({ groupId: args[0], pageNum: 1, pageSize: 20 });
        print({ members: listed.data.members.map((m) => m.userId).sort() });
      } else if (action === 'quit') {
        await conn.quitGroup({ groupId: args[0] });
        print({ done: action });
      } else if (action === 'destroy') {
        await conn.destroyGroup({ groupId: args[0] });
        print({ done: action });
      }
    } catch (error) {
      print(error.type === undefined ? { error: String(error) } : { refused: error.type });
    }
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'kinds') {
    const [, to] = rest;
    await conn.open({ user, pwd: password });
    const kinds = [
      { type: 'loc', lat: 39.9, lng: 116.3, addr: 'Beijing' },
      { type: 'cmd', action: 'typing' },
      { type: 'custom', customEvent: 'gift', customExts: { name: 'rose', n: 2 } },
    ];
    const sent = [];
    for (const kind of kinds) {
      const { serverMsgId } = await conn.send(SDK.message.create({ chatType: 'singleChat', to, ...kind }));
      sent.push(serverMsgId);
    }
    print({ sent });
    conn.close();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (step === 'send' || step === 'gsend' || step === 'refused' || step === 'refused1') {
    const [, to, text] = rest;
    await conn.open({ user, pwd: password });
    const chatType = step === 'send' || step === 'refused1' ? 'singleChat' : 'groupChat';
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
