import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode, SwitchboardError, toSwitchboardError } from '../../protocol/errors.js';
import {
  type ConnectFrame,
  type ConnectReply,
  type HistoryFrame,
  type HistoryReply,
  type PresenceFrame,
  type PresenceReply,
  type PublishFrame,
  type RefreshFrame,
  type RpcFrame,
  SUPPORTED_VERSIONS,
} from '../../protocol/frames.js';
import { streamSettings } from '../channels/policy.js';
import type { Identity } from '../types.js';
import type { Connection } from './host.js';
import { reauthorize } from './subscribe.js';

/**
 * A connection's requests other than subscribing, each a function of the connection the way `ws`
 * writes its listeners: connect and refresh (identity and expiry), publish, RPC, presence and
 * history. Each answers its request exactly once; a thrown error becomes the error reply.
 */

/** A history request returns at most this many publications; page with `since` for more. */
const MAX_HISTORY_REPLY = 1000;

/** Which close follows a refused `connect`: it tells the client whether trying again can help. */
function connectRefusalCode(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.TOKEN_EXPIRED:
      return CloseCode.TOKEN_EXPIRED;
    case ErrorCode.FORBIDDEN:
      return CloseCode.FORBIDDEN;
    // A backend the server asks (`proxy.connect`) or the broker is down: the token may be fine.
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.UNCERTAIN:
      return CloseCode.TRY_AGAIN_LATER;
    default:
      return CloseCode.UNAUTHORIZED;
  }
}

export async function onConnect(connection: Connection, frame: ConnectFrame): Promise<void> {
  const { host } = connection;
  if (connection.identity) {
    connection.sendError(frame.id, ErrorCode.BAD_FRAME, 'Already connected');
    return;
  }
  const version = Math.min(frame.version, Math.max(...SUPPORTED_VERSIONS));
  if (!SUPPORTED_VERSIONS.includes(version)) {
    connection.sendError(
      frame.id,
      ErrorCode.UNSUPPORTED_VERSION,
      `Supported versions: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
    connection.close(CloseCode.UNSUPPORTED_VERSION, 'unsupported protocol version');
    return;
  }
  let identity: Identity;
  try {
    identity = await host.session.authenticate(frame.token, connection.request);
  } catch (error) {
    const err = toSwitchboardError(error);
    connection.sendError(frame.id, err.code, err.message);
    connection.close(connectRefusalCode(err.code), err.message);
    return;
  }
  if (connection.state !== 'connecting') return; // closed while the token was being checked
  if (!host.session.admit(connection, identity)) {
    connection.sendError(frame.id, ErrorCode.LIMIT_EXCEEDED, 'Too many connections for this user');
    connection.close(CloseCode.TOO_MANY_CONNECTIONS, 'too many connections for this user');
    return;
  }
  connection.authenticated(identity, frame.data);
  scheduleExpiry(connection);
  const reply: ConnectReply = {
    version,
    connection: connection.id,
    user: identity.userId,
    heartbeatMs: host.heartbeatMs,
    maxMessageBytes: host.limits.maxMessageBytes,
    limits: host.announcedLimits,
  };
  if (identity.expiresAt !== undefined) reply.expiresAt = identity.expiresAt;
  connection.reply(frame.id, reply);
  host.session.authenticated(connection);
}

export async function onRefresh(connection: Connection, frame: RefreshFrame): Promise<void> {
  const identity = await connection.host.session.authenticate(frame.token, connection.request);
  if (identity.userId !== connection.identity?.userId) {
    throw new SwitchboardError(ErrorCode.FORBIDDEN, 'A refreshed token must be for the same user');
  }
  connection.identity = identity;
  scheduleExpiry(connection);
  connection.reply(
    frame.id,
    identity.expiresAt === undefined ? {} : { expiresAt: identity.expiresAt },
  );
  // Rights may hang on claims the new token no longer carries.
  await reauthorize(connection);
}

/** Closes the connection (4002) when its credential expires. */
function scheduleExpiry(connection: Connection): void {
  const expiresAt = connection.identity?.expiresAt;
  if (expiresAt !== undefined && expiresAt <= Date.now())
    return connection.close(CloseCode.TOKEN_EXPIRED, 'token expired');
  connection.setExpiry(expiresAt);
}

/**
 * Resolves once the checks passed and the broker call is issued; `done` settles when the broker
 * answered (an async function's result would flatten it), so the ordered chain need not wait.
 */
export async function onPublish(
  connection: Connection,
  frame: PublishFrame,
): Promise<{ done: Promise<void> }> {
  const { channels, limits } = connection.host;
  const identity = connection.identity!;
  const plan = await channels.policy.planClientPublish(
    identity,
    frame.channel,
    frame.event,
    frame.data,
    frame,
  );
  const user = identity.userId;
  // A client's marker is taken as id, seq and status only: a roll-up is the server's to make.
  const stream = frame.stream && {
    id: frame.stream.id,
    seq: frame.stream.seq,
    ...(frame.stream.status !== undefined && { status: frame.stream.status }),
  };
  if (stream) {
    if (stream.status === 'open' && channels.streams.countOwnedBy(user) >= limits.maxStreams)
      throw new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Too many open streams');
    const timeoutMs = streamSettings(plan.rule.options)!.timeoutMs;
    if (!channels.streams.track(frame.channel, frame.event, stream, timeoutMs, user))
      throw new SwitchboardError(ErrorCode.FORBIDDEN, 'Stream belongs to another user');
  }
  // Not awaited by the chain: the broker call is issued in order, its reply comes when it comes.
  const done = channels.publisher
    .publish(frame.channel, frame.event, plan.data, {
      user,
      history: plan.history,
      latest: plan.latest,
      ...(frame.exceptSelf && { exceptConnection: connection.id }),
      ...(frame.key !== undefined && { idempotencyKey: `${user}\u0000${frame.key}` }),
      ...(plan.ephemeral && { ephemeral: true }),
      ...(stream && { stream }),
    })
    .then(
      (result) =>
        connection.reply(
          frame.id,
          plan.ephemeral
            ? { offset: result.offset, epoch: result.epoch, ephemeral: true }
            : { offset: result.offset, epoch: result.epoch },
        ),
      (error) => connection.fail(frame.id, error),
    );
  return { done };
}

export async function onPresence(connection: Connection, frame: PresenceFrame): Promise<void> {
  const { channels } = connection.host;
  const rule = await channels.policy.authorize(connection.identity!, frame.channel, 'presence');
  if (!rule.options.presence)
    throw new SwitchboardError(ErrorCode.NOT_FOUND, 'Presence is not enabled on this channel');
  const reply: PresenceReply = { members: await channels.members(frame.channel) };
  connection.reply(frame.id, reply);
}

export async function onHistory(connection: Connection, frame: HistoryFrame): Promise<void> {
  const { channels, wire } = connection.host;
  await channels.policy.authorize(connection.identity!, frame.channel, 'history');
  const limit = Math.min(frame.limit ?? MAX_HISTORY_REPLY, MAX_HISTORY_REPLY);
  const history = await channels.history(frame.channel, {
    limit,
    ...(frame.since && { since: frame.since }),
  });
  const reply: HistoryReply = {
    offset: history.offset,
    epoch: history.epoch,
    recovered: history.recovered,
    publications: history.publications.map((p) => wire.publicationFrame(p)),
  };
  if (history.more) reply.more = true;
  connection.reply(frame.id, reply);
}

export function onRpc(connection: Connection, frame: RpcFrame): Promise<void> {
  return connection.host.session.callRpc(connection, frame.method, frame.data).then(
    (result) => {
      // A result the codec cannot encode (a BigInt, a cycle) is the handler's bug: the client
      // still gets its one reply, as INTERNAL.
      try {
        connection.reply(frame.id, result);
      } catch (error) {
        connection.fail(frame.id, error);
      }
    },
    (error) => connection.fail(frame.id, error),
  );
}
