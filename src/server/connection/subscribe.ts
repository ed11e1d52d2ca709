import type { Publication } from '../../broker/types.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { ErrorCode, SwitchboardError } from '../../protocol/errors.js';
import type {
  PresenceMember,
  StreamPosition,
  SubscribeFrame,
  SubscribeReply,
  UnsubscribeFrame,
} from '../../protocol/frames.js';
import { latestSettings, streamSettings } from '../channels/policy.js';
import type { ChannelRule } from '../channels/rules.js';
import { streamsInProgress } from '../channels/streams.js';
import type { Connection } from './host.js';
import { mergeRecovery } from './recovery.js';

/**
 * Subscribe-with-recovery. The invariant: after the subscribe reply, the client receives every
 * publication after its position exactly once, in offset order — or the reply says
 * `recovered: false`. So the connection joins the channel's live fan-out first, holding what
 * arrives, then reads history, answers, and sends the replay and the held publications as one
 * contiguous run (recovery.ts); a break in that run resyncs the connection rather than leave a
 * hole.
 */

export async function onSubscribe(connection: Connection, frame: SubscribeFrame): Promise<void> {
  const { channels, limits } = connection.host;
  const { channel, since } = frame;
  if (connection.channels?.has(channel))
    throw new SwitchboardError(ErrorCode.BAD_FRAME, `Already subscribed to "${channel}"`);
  if ((connection.channels?.size ?? 0) >= limits.maxSubscriptions)
    throw new SwitchboardError(ErrorCode.LIMIT_EXCEEDED, 'Too many subscriptions');
  const rule = await channels.policy.authorize(connection.identity!, channel, 'subscribe');
  if (connection.state !== 'open') return;
  const streams = streamSettings(rule.options) !== undefined;
  // Join before asking the broker for the position, holding back what arrives meanwhile, so
  // nothing published between the two is missed or delivered ahead of the reply.
  (connection.channels ??= new Map()).set(channel, []);
  let reply: SubscribeReply;
  let replay: Publication[] = [];
  let inProgress: Publication[] = [];
  let latest: Publication[] = [];
  try {
    await channels.join(connection, channel);
    const history = await channels.history(
      channel,
      since ? { since } : streams ? {} : { limit: 0 },
    );
    reply = { offset: history.offset, epoch: history.epoch };
    if (since) {
      reply.recovered = history.recovered;
      replay = history.publications;
    }
    // Without a full replay, a subscriber still gets the streams in progress from their start.
    if (streams && !reply.recovered) {
      const all = since ? await channels.history(channel, {}) : history;
      if (all.epoch === reply.epoch)
        inProgress = streamsInProgress(all.publications).filter((p) => p.offset <= reply.offset);
    }
    const keeps = latestSettings(rule.options);
    if (keeps) {
      latest = await channels.latest(channel);
      reply.latest = keeps.maxEvents;
    }
  } catch (error) {
    connection.leave(channel);
    throw error;
  }
  const held = connection.channels?.get(channel);
  if (!held) return; // unsubscribed while we waited
  connection.channels!.set(channel, null);
  const start = since && reply.recovered ? since : reply;
  sendLatest(connection, latest, start);
  // Before the reply: the client takes these as already-seen history, then its position moves
  // to the reply's offset.
  for (const publication of inProgress) connection.sendPublication(publication);
  connection.reply(frame.id, reply);
  const { send, gap } = mergeRecovery(start, replay, held);
  for (const publication of send) connection.sendPublication(publication);
  if (gap) {
    // The node's live feed broke while this subscribe was answered: start over from the
    // position the client now holds, which its resubscribe recovers or reports.
    connection.close(CloseCode.RESYNC, 'channel resync');
    return;
  }
  if (rule.options.presence) await joinPresence(connection, channel, rule);
}

/**
 * The latest values, marked, ahead of the reply: a snapshot the client keeps out of its position
 * and dedup (they carry old offsets). One the replay or the held publications will deliver
 * anyway (same epoch, past where delivery starts) is left out, so no value comes twice; the
 * rest come again on every subscribe, recovery included, so the client's snapshot is fresh.
 * Ephemeral ones carry no offset of their own and always come.
 */
function sendLatest(connection: Connection, latest: Publication[], start: StreamPosition): void {
  const { wire } = connection.host;
  for (const publication of latest) {
    const ahead =
      !publication.ephemeral &&
      publication.epoch === start.epoch &&
      publication.offset > start.offset;
    if (!ahead) connection.sendFrame({ ...wire.publicationFrame(publication), latest: true });
  }
}

async function joinPresence(
  connection: Connection,
  channel: string,
  rule: ChannelRule,
): Promise<void> {
  const presence = rule.options.presence;
  const member: PresenceMember = { user: connection.identity!.userId, connection: connection.id };
  if (typeof presence === 'object' && presence.info)
    member.info = await presence.info(connection.identity!, connection);
  if (!connection.channels?.has(channel)) return;
  (connection.presence ??= new Map()).set(channel, member);
  await connection.host.channels.presenceJoin(channel, member);
}

export function onUnsubscribe(connection: Connection, frame: UnsubscribeFrame): void {
  if (!connection.channels?.has(frame.channel))
    throw new SwitchboardError(ErrorCode.NOT_FOUND, `Not subscribed to "${frame.channel}"`);
  connection.leave(frame.channel);
  connection.reply(frame.id, {});
}

/**
 * Checks every subscription of the connection against its current identity (after a token
 * refresh, or when the app calls `server.reauthorize`). One no longer allowed ends with an
 * `unsubscribed` frame carrying the refusal's code; the connection and its other subscriptions
 * stay. A hook that fails (anything but a refusal) leaves the subscription as it is.
 */
export async function reauthorize(connection: Connection): Promise<void> {
  const { channels } = connection.host;
  for (const channel of [...(connection.channels?.keys() ?? [])]) {
    try {
      await channels.policy.authorize(connection.identity!, channel, 'subscribe');
    } catch (error) {
      const refused =
        error instanceof SwitchboardError &&
        (error.code === ErrorCode.FORBIDDEN || error.code === ErrorCode.NOT_FOUND);
      if (!refused || !connection.channels?.has(channel) || connection.state !== 'open') continue;
      connection.leave(channel);
      connection.sendFrame({
        type: 'unsubscribed',
        channel,
        code: error.code,
        message: error.message,
      });
    }
  }
}
