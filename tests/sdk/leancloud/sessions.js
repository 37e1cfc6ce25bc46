// The vendor's SDK (`leancloud-realtime`, the version named by the first
// argument: lc4 = 4.3.1, lc5 = 5.0.0-rc.8) against a running confab, one
// client per process (5.x allows one Realtime per app and process, and
// confab serves one session per connection so far). The Rust test
// (tests/api/leancloud_sdk.rs) runs these steps and reads what they print,
// one JSON object per line:
//   open CLIENT [TAG]   opens plainly, prints {"opened"}, then prints the
//                       first CONFLICT or CLOSE the server causes, and exits
//   signed CLIENT       opens with a login signature made with the master key
//   forged CLIENT       opens with a wrong signature; prints the error code
//   listen CLIENT       opens, prints {"opened"}, then the first message it
//                       receives ({"received", "from", "id", "cid"}; with
//                       "mentioned" and "mentionList" when it mentions CLIENT;
//                       a binary one as {"binary": hex, …}), and exits
//   send CLIENT CID TEXT  opens, finds the conversation, sends a text message,
//                       prints {"sent": id, "timestamp"}
//   watch CLIENT        opens, prints {"opened"}, then each edit and recall
//                       it hears ({"updated": id, "text"}, {"recalled": id}); exits after two
//   amend CLIENT CID    opens, sends two messages, edits the first and
//                       recalls the second; prints {"amended": [ids]}
//   events CLIENT [N]   opens, prints {"opened"}, then the first N (1) membership
//                       events it hears ({"invited": cid}, {"kicked": cid},
//                       {"joined": [ids], "cid"}, {"left": [ids], "cid"}, {"blocked": cid},
//                       {"members_blocked": [ids], "cid"}, {"muted": cid},
//                       {"members_muted": [ids], "cid"}, {"info_updated": cid,
//                       "name", "color", "attributes"}, …), and exits
//   add CLIENT CID MEMBER  adds MEMBER; prints {"added": [ids]}
//   quit CLIENT CID     leaves the conversation; prints {"quit": cid}
//   room CLIENT         opens, makes a chat room; prints {"room": id}
//   roomlisten CLIENT CID  opens, joins the chat room, prints {"joined"}, then the
//                       first message heard there ({"received", "from"}), and exits
//   roomsay CLIENT CID TEXT  opens, joins the chat room, says TEXT; prints {"said": id}
//   history CLIENT CID  opens, reads the conversation's last messages
//                       (queryMessages), prints {"history": [texts, oldest first]}
//                       or {"refused": code}
//   start CLIENT MEMBER TEXT  opens, makes a conversation with MEMBER (unique,
//                       as the SDK's default), sends TEXT, prints {"cid", "sent", "members"}
//   receipts CLIENT CID  opens, sends a message asking for receipts, prints
//                       {"sent": id}, then {"delivered": id} and {"read": id} as
//                       the receipts come, then the conversation's receipt times
//                       (fetchReceiptTimestamps) {"lastDeliveredAt", "lastReadAt"}
//   unread CLIENT CID   opens, prints {"unread": n} (the conversation's count a
//                       second after login, as the server's notification set it)
//                       and {"messages": [texts]} heard, then marks it read; prints {"read": cid}
//   subscribe CLIENT CID  opens, finds the service conversation, subscribes,
//                       prints {"subscribed": cid, "system": true}, then the first
//                       two messages heard there ({"received", "cid"}), and exits
//   stay CLIENT N       opens, prints {"opened"}, then {"disconnected"} and
//                       {"reconnected"} as the connection goes and comes back
//                       (the SDK reconnects by itself), and each message heard
//                       ({"received"}); exits after N messages
//   manage CLIENT CID   opens, counts the members ({"count"}), mutes the
//                       conversation ({"muted"}), renames it and sets a field of
//                       its own (save), reads it back ({"name", "color", "mutedMembers"})
//   farewell CLIENT CID  opens, sends a transient message and leaves a `will`
//                       message, prints {"sent": true}, and exits without closing
//                       its session (as a phone losing its network)
//   bytes CLIENT CID HEX  opens, sends the bytes HEX as a binary message (an
//                       ArrayBuffer payload), prints {"sent": id}, then the
//                       conversation's newest message from history ({"history": hex})
//   temporary CLIENT MEMBER TEXT  opens, makes a temporary conversation with
//                       MEMBER (an hour to live), sends TEXT, prints {"cid",
//                       "sent", "members", "expiresIn": seconds}
//   refused CLIENT CID TEXT  opens, sends TEXT, prints the SDK's error
//                       ({"code", "appCode", "message"}) or {"sent": true}
//   mention CLIENT CID MEMBER  opens, sends a text mentioning MEMBER
//                       (setMentionList), prints {"sent": id}
// Usage: node sessions.js lc4|lc5 http://127.0.0.1:PORT APP_ID APP_KEY MASTER_KEY STEP CLIENT [TAG]

const crypto = require('crypto');

const [, , pkg, server, appId, appKey, masterKey, step, client, tag, text] = process.argv;
const { Realtime, Event, TextMessage, Message } = require(pkg);

// 4.x asks the router over https only; on a plain-HTTP test server it is
// pointed at the socket with `RTMServers`, which it documents for private
// deployments. 5.x takes the `server` address and asks its `/v1/route`.
const socket = `${server.replace(/^http/, 'ws')}/`;
const options = pkg === 'lc4' ? { appId, appKey, server, RTMServers: socket } : { appId, appKey, server };
const print = (object) => console.log(JSON.stringify(object));

// As the app's backend signs with its master key (`_rtmClientSign`).
const signedBy = (key) => async (clientId) => {
  const timestamp = Date.now();
  const nonce = crypto.randomBytes(6).toString('hex');
  const signature = crypto.createHmac('sha1', key).update(`${appId}:${clientId}::${timestamp}:${nonce}`).digest('hex');
  return { signature, timestamp, nonce };
};

async function main() {
  const realtime = new Realtime(options);
  if (step === 'open') {
    const im = await realtime.createIMClient(client, tag ? { tag } : undefined);
    im.on(Event.CONFLICT, ({ reason }) => {
      print({ conflict: true, reason });
      process.exit(0);
    });
    im.on(Event.CLOSE, ({ code, reason }) => {
      print({ closed: code, reason });
      process.exit(0);
    });
    print({ opened: im.id });
    setTimeout(() => {
      print({ error: 'nothing happened within 20 s' });
      process.exit(1);
    }, 20000);
    return;
  }
  if (step === 'signed') {
    const im = await realtime.createIMClient(client, { signatureFactory: signedBy(masterKey) });
    print({ opened: im.id });
    await im.close();
    process.exit(0);
  }
  if (step === 'forged') {
    try {
      await realtime.createIMClient(client, { signatureFactory: signedBy('not-the-master-key') });
      print({ opened: client });
    } catch (error) {
      print({ refused: error.code });
    }
    process.exit(0);
  }
  if (step === 'listen') {
    const im = await realtime.createIMClient(client);
    im.on(Event.MESSAGE, (message, conversation) => {
      const { from, id } = message;
      if (message.content instanceof ArrayBuffer) {
        print({ binary: Buffer.from(message.content).toString('hex'), from, id, cid: conversation.id });
      } else if (message.mentioned) {
        print({ received: message.text, from, id, cid: conversation.id, mentioned: true, mentionList: message.mentionList });
      } else {
        // A text from another dialect is a plain string message (no _lctype).
        const text = message.text !== undefined ? message.text : message.content;
        print({ received: text, from, id, cid: conversation.id });
      }
      // The SDK has written its acknowledgement; let it leave the process.
      setTimeout(() => process.exit(0), 500);
    });
    print({ opened: im.id });
    setTimeout(() => {
      print({ error: 'no message within 20 s' });
      process.exit(1);
    }, 20000);
    return;
  }
  if (step === 'send') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    const message = await conversation.send(new TextMessage(text));
    print({ sent: message.id, timestamp: +message.timestamp, members: conversation.members });
    await im.close();
    process.exit(0);
  }
  if (step === 'refused') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    try {
      await conversation.send(new TextMessage(text));
      print({ sent: true });
    } catch (error) {
      print({ code: error.code, appCode: error.appCode === undefined ? null : error.appCode, message: error.message });
    }
    await im.close();
    process.exit(0);
  }
  if (step === 'mention') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    const message = new TextMessage(`@${text} look`).setMentionList([text]);
    await conversation.send(message);
    print({ sent: message.id });
    await im.close();
    process.exit(0);
  }
  if (step === 'bytes') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    const bytes = Buffer.from(text, 'hex');
    const payload = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    const message = await conversation.send(new Message(payload));
    print({ sent: message.id });
    const [newest] = await conversation.queryMessages({ limit: 1 });
    const content = newest.content instanceof ArrayBuffer ? Buffer.from(newest.content).toString('hex') : newest.content;
    print({ history: content, id: newest.id });
    await im.close();
    process.exit(0);
  }
  if (step === 'watch') {
    const im = await realtime.createIMClient(client);
    let heard = 0;
    const done = () => {
      heard += 1;
      if (heard === 2) setTimeout(() => process.exit(0), 200);
    };
    im.on(Event.MESSAGE_UPDATE, (message) => {
      print({ updated: message.id, text: message.text !== undefined ? message.text : message.content });
      done();
    });
    im.on(Event.MESSAGE_RECALL, (message) => {
      print({ recalled: message.id });
      done();
    });
    print({ opened: im.id });
    setTimeout(() => {
      print({ error: 'not two patches within 20 s' });
      process.exit(1);
    }, 20000);
    return;
  }
  if (step === 'amend') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    const first = await conversation.send(new TextMessage('first'));
    const second = await conversation.send(new TextMessage('second'));
    await conversation.update(first, new TextMessage('first, edited'));
    await conversation.recall(second);
    print({ amended: [first.id, second.id] });
    await im.close();
    process.exit(0);
  }
  if (step === 'events') {
    const im = await realtime.createIMClient(client);
    // TAG: how many events to wait for (1 by default).
    const want = Number(tag || 1);
    let count = 0;
    const heard = (object) => {
      print(object);
      count += 1;
      if (count === want) setTimeout(() => process.exit(0), 200);
    };
    im.on(Event.INVITED, (payload, conversation) => heard({ invited: conversation.id }));
    im.on(Event.KICKED, (payload, conversation) => heard({ kicked: conversation.id }));
    im.on(Event.MEMBERS_JOINED, ({ members }, conversation) => heard({ joined: members, cid: conversation.id }));
    im.on(Event.MEMBERS_LEFT, ({ members }, conversation) => heard({ left: members, cid: conversation.id }));
    im.on(Event.BLOCKED, (payload, conversation) => heard({ blocked: conversation.id }));
    im.on(Event.UNBLOCKED, (payload, conversation) => heard({ unblocked: conversation.id }));
    im.on(Event.MEMBERS_BLOCKED, ({ members }, conversation) => heard({ members_blocked: members, cid: conversation.id }));
    im.on(Event.MUTED, (payload, conversation) => heard({ muted: conversation.id }));
    im.on(Event.UNMUTED, (payload, conversation) => heard({ unmuted: conversation.id }));
    im.on(Event.MEMBERS_MUTED, ({ members }, conversation) => heard({ members_muted: members, cid: conversation.id }));
    im.on(Event.CONVERSATION_INFO_UPDATED, ({ attributes }, conversation) => {
      heard({ info_updated: conversation.id, name: conversation.name, color: conversation.get('color') || null, attributes });
    });
    print({ opened: im.id });
    setTimeout(() => {
      print({ error: 'no membership event within 20 s' });
      process.exit(1);
    }, 20000);
    return;
  }
  if (step === 'add') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    const { successfulClientIds } = await conversation.add([text]);
    print({ added: successfulClientIds });
    await im.close();
    process.exit(0);
  }
  if (step === 'quit') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    await conversation.quit();
    print({ quit: conversation.id });
    await im.close();
    process.exit(0);
  }
  if (step === 'room') {
    const im = await realtime.createIMClient(client);
    const room = await im.createChatRoom({ name: 'lobby' });
    print({ room: room.id, transient: room.transient });
    await im.close();
    process.exit(0);
  }
  if (step === 'roomlisten' || step === 'roomsay') {
    const im = await realtime.createIMClient(client);
    const room = await im.getConversation(tag);
    await room.join();
    if (step === 'roomsay') {
      const said = await room.send(new TextMessage(text));
      print({ said: said.id });
      await im.close();
      process.exit(0);
    }
    im.on(Event.MESSAGE, (message) => {
      print({ received: message.text, from: message.from });
      setTimeout(() => process.exit(0), 200);
    });
    print({ joined: room.id });
    setTimeout(() => {
      print({ error: 'no room message within 20 s' });
      process.exit(1);
    }, 20000);
    return;
  }
  if (step === 'history') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    try {
      const messages = await conversation.queryMessages({ limit: 10 });
      print({ history: messages.map((m) => m.text), from: messages.map((m) => m.from) });
    } catch (error) {
      print({ refused: error.code });
    }
    await im.close();
    process.exit(0);
  }
  if (step === 'start') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.createConversation({ members: [tag], name: 'duo', topic: 'sdk', unique: true });
    const again = await im.createConversation({ members: [tag], name: 'duo', unique: true });
    const message = await conversation.send(new TextMessage(text));
    print({
      cid: conversation.id,
      again: again.id,
      sent: message.id,
      members: conversation.members,
      name: conversation.name,
    });
    await im.close();
    process.exit(0);
  }
  if (step === 'temporary') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.createTemporaryConversation({ members: [tag], ttl: 3600 });
    const message = await conversation.send(new TextMessage(text));
    print({
      cid: conversation.id,
      sent: message.id,
      members: conversation.members,
      expiresIn: Math.round((conversation.expiredAt - Date.now()) / 1000),
    });
    await im.close();
    process.exit(0);
  }
  if (step === 'receipts') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    const message = await conversation.send(new TextMessage('did you get this?'), { receipt: true });
    print({ sent: message.id });
    let heard = 0;
    const done = async () => {
      heard += 1;
      if (heard < 2) return;
      const again = await im.getConversation(tag);
      await again.fetchReceiptTimestamps();
      print({
        lastDeliveredAt: again.lastDeliveredAt ? +again.lastDeliveredAt : null,
        lastReadAt: again.lastReadAt ? +again.lastReadAt : null,
      });
      await im.close();
      process.exit(0);
    };
    // The SDK marks the message after it tells of the new time.
    conversation.on(Event.LAST_DELIVERED_AT_UPDATE, () =>
      setImmediate(() => {
        print({ delivered: message.deliveredAt ? message.id : null, status: message.status });
        done();
      })
    );
    conversation.on(Event.LAST_READ_AT_UPDATE, () => {
      print({ read: message.id });
      done();
    });
    setTimeout(() => {
      print({ error: 'no receipts within 25 s' });
      process.exit(1);
    }, 25000);
    return;
  }
  if (step === 'unread') {
    const heard = [];
    const im = await realtime.createIMClient(client);
    im.on(Event.MESSAGE, (message) => heard.push(message.text));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const conversation = await im.getConversation(tag);
    print({ unread: conversation.unreadMessagesCount });
    print({ messages: heard });
    await conversation.read();
    // The SDK writes `read` commands a moment later, in a batch.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    print({ read: conversation.id });
    await im.close();
    process.exit(0);
  }
  if (step === 'subscribe') {
    const im = await realtime.createIMClient(client);
    const [service] = await im.getServiceConversationQuery().equalTo('objectId', tag).find();
    await service.subscribe();
    let heard = 0;
    im.on(Event.MESSAGE, (message, conversation) => {
      print({ received: message.text, cid: conversation.id });
      heard += 1;
      if (heard === 2) setTimeout(() => process.exit(0), 500);
    });
    print({ subscribed: service.id, system: service.system });
    setTimeout(() => {
      print({ error: 'not two service messages within 20 s' });
      process.exit(1);
    }, 20000);
    return;
  }
  if (step === 'stay') {
    const im = await realtime.createIMClient(client);
    let heard = 0;
    im.on(Event.DISCONNECT, () => print({ disconnected: true }));
    im.on(Event.RECONNECT, () => print({ reconnected: true }));
    im.on(Event.MESSAGE, (message) => {
      print({ received: message.text });
      heard += 1;
      if (heard === Number(tag)) setTimeout(() => process.exit(0), 500);
    });
    print({ opened: im.id });
    setTimeout(() => {
      print({ error: `not ${tag} messages within 40 s` });
      process.exit(1);
    }, 40000);
    return;
  }
  if (step === 'manage') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    print({ count: await conversation.count() });
    await conversation.mute();
    print({ muted: conversation.muted });
    conversation.name = 'renamed';
    conversation.set('color', 'blue');
    await conversation.save();
    const [again] = await im.getQuery().equalTo('objectId', tag).find();
    print({ name: again.name, color: again.get('color'), mutedMembers: again.mutedMembers });
    await im.close();
    process.exit(0);
  }
  if (step === 'farewell') {
    const im = await realtime.createIMClient(client);
    const conversation = await im.getConversation(tag);
    await conversation.send(new TextMessage('passing by'), { transient: true });
    await conversation.send(new TextMessage('gone'), { will: true });
    print({ sent: true });
    process.exit(0);
  }
  throw new Error(`unknown step ${step}`);
}

main().catch((error) => {
  print({ error: String(error && (error.stack || error)) });
  process.exit(1);
});
