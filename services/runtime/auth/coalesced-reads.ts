import type { Cache } from "../cache/cache.js";

/**
 * Reads one MGET answers at most. A round that fills is sent at once instead of at the end of
 * the turn: under load its answer then comes back while the rest of the turn's calls are being
 * read, instead of every call of the turn waiting, idle, for one round trip.
 */
const MAX_READS = 16;

/** One MGET being gathered: its keys, and their values once it is answered. */
interface Round {
  keys: string[];
  positions: Map<string, number>;
  reads: number;
  values: Promise<(string | null)[]>;
  send(): void;
}

/**
 * Reads of the shared cache that begin in the same turn of the event loop, sent together as one
 * MGET (of up to MAX_READS reads). Under load a turn starts many calls (one socket read carries
 * many requests), and a command of its own per call cost more than the rest of a fast call's
 * work together (authz Check: a socket write, a parsed reply and promises per call). Every read
 * is still answered by a command sent after it began, so nothing written before a call started
 * is missed.
 */
export class CoalescedReads {
  private open: Round | undefined;

  constructor(private readonly cache: Pick<Cache, "mget">) {}

  /** The values of `keys`, in order (null where missing). */
  async get(keys: readonly string[]): Promise<(string | null)[]> {
    const round = (this.open ??= this.newRound());
    const at = keys.map((key) => {
      let position = round.positions.get(key);
      if (position === undefined) round.positions.set(key, (position = round.keys.push(key) - 1));
      return position;
    });
    if (++round.reads >= MAX_READS) round.send();
    const values = await round.values;
    return at.map((position) => values[position]!);
  }

  private newRound(): Round {
    let release!: () => void;
    const sendable = new Promise<void>((resolve) => (release = resolve));
    const round: Round = {
      keys: [],
      positions: new Map(),
      reads: 0,
      values: sendable.then(() => this.cache.mget(...round.keys)),
      send: () => {
        if (this.open === round) this.open = undefined;
        release();
      },
    };
    setImmediate(round.send);
    return round;
  }
}
