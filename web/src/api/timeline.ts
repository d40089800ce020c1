// One group's messages as a client holds them, keyed by seq: delivery is at least once, so the
// same message can arrive live, in a sync and in a history page; `(groupId, seq)` identifies it
// and a repeat changes nothing. A later edit or delete of a held message replaces it.

import type { Message } from "./types";

export class Timeline {
  private readonly bySeq = new Map<number, Message>();
  /** The oldest seq held, and whether older ones exist on the server. */
  private lowest = Infinity;
  olderExist = true;

  /** Adds or updates a message; false when it changed nothing (a repeat). */
  put(m: Message): boolean {
    const held = this.bySeq.get(m.seq);
    if (held && !newer(m, held)) return false;
    this.bySeq.set(m.seq, m);
    this.lowest = Math.min(this.lowest, m.seq);
    if (m.seq === 1) this.olderExist = false;
    return true;
  }

  get(seq: number): Message | undefined {
    return this.bySeq.get(seq);
  }

  /** Marks a held message deleted (a `chat.message.deleted` carries only its id and seq). */
  markDeleted(seq: number): boolean {
    const held = this.bySeq.get(seq);
    if (!held || held.deleted) return false;
    this.bySeq.set(seq, { ...held, deleted: true, content: "", attachments: [] });
    return true;
  }

  /** Every held message in seq order. */
  messages(): Message[] {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  get size(): number {
    return this.bySeq.size;
  }

  get oldest(): number | undefined {
    return Number.isFinite(this.lowest) ? this.lowest : undefined;
  }

  /** The newest seq held. */
  get newest(): number {
    let n = 0;
    for (const s of this.bySeq.keys()) n = Math.max(n, s);
    return n;
  }

  /**
   * The last seq of the unbroken run that starts at the oldest held message: what to ask
   * `chat.sync` to continue from, so a gap (a missed message) is filled.
   */
  contiguousHead(): number {
    if (!Number.isFinite(this.lowest)) return 0;
    let s = this.lowest;
    while (this.bySeq.has(s + 1)) s++;
    return s;
  }
}

function newer(a: Message, b: Message): boolean {
  if (a.deleted !== b.deleted) return a.deleted;
  if ((a.editedAt ?? "") !== (b.editedAt ?? "")) return (a.editedAt ?? "") > (b.editedAt ?? "");
  // The same message whose image preview is now ready.
  return JSON.stringify(a.attachments) !== JSON.stringify(b.attachments);
}
