/**
 * The simulator's event queue: a binary min-heap on (time, sequence). Equal times run in the order
 * they were scheduled, so a seed replays exactly.
 */
import { assert } from "../../src/assert.ts";

interface Event {
  readonly time: number;
  readonly sequence: number;
  readonly run: () => void;
}

/** Events in virtual time. */
export class EventQueue {
  private heap: Event[] = [];
  private sequence = 0;
  /** The virtual time of the event being run, in milliseconds. */
  now = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Runs `run` after `delay` virtual milliseconds. */
  schedule(delay: number, run: () => void): void {
    assert(delay >= 0 && Number.isFinite(delay), "events are scheduled in the future");
    this.push({ time: this.now + delay, sequence: this.sequence++, run });
  }

  /** Runs the next event; returns false when none is left before `until`. */
  runNext(until: number): boolean {
    const event = this.heap[0];
    if (event === undefined || event.time > until) return false;
    this.pop();
    this.now = event.time;
    event.run();
    return true;
  }

  private before(a: Event, b: Event): boolean {
    return a.time < b.time || (a.time === b.time && a.sequence < b.sequence);
  }

  private push(event: Event): void {
    const heap = this.heap;
    heap.push(event);
    let child = heap.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!this.before(heap[child]!, heap[parent]!)) break;
      [heap[child], heap[parent]] = [heap[parent]!, heap[child]!];
      child = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let parent = 0;
    for (;;) {
      const left = 2 * parent + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < heap.length && this.before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && this.before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === parent) return;
      [heap[parent], heap[smallest]] = [heap[smallest]!, heap[parent]!];
      parent = smallest;
    }
  }
}
