import type { Publication } from '../../broker/types.js';
import type { StreamPosition } from '../../protocol/frames.js';
import { step } from '../../protocol/position.js';

/**
 * Subscribe-with-recovery, the merge at its end. A subscribing connection joins the channel's
 * live fan-out first (holding what arrives), then reads history and answers the subscribe. What
 * follows the reply must be, in order and once each, every publication after `start` — the
 * client's `since` when history recovered it, else the position the reply announced:
 *
 *   history replay (after `start`)  ─┐
 *                                    ├─► one contiguous run from start + 1
 *   held live publications          ─┘   (overlap dropped by offset)
 *
 * Ephemeral publications carry no offset of their own and pass in arrival order. Should the run
 * break (a held publication further ahead than the next offset, or in another epoch), the
 * publications before the break are sent and `gap` says the connection must resync: sending on
 * would hand the client a hole it could only find by itself.
 */
export function mergeRecovery(
  start: StreamPosition,
  replay: readonly Publication[],
  held: readonly Publication[],
): { send: Publication[]; gap: boolean } {
  const send: Publication[] = [];
  let position = start;
  for (const list of [replay, held]) {
    for (const publication of list) {
      if (publication.ephemeral) {
        if (list === held) send.push(publication);
        continue;
      }
      const where = step(position, publication.offset, publication.epoch, publication.covers);
      if (where === 'seen') continue;
      if (where !== 'next') return { send, gap: true };
      send.push(publication);
      position = publication;
    }
  }
  return { send, gap: false };
}
