/**
 * The two sorts Redis's geo searches use, ported so that results with equal keys (points at
 * the same distance), and the comparisons C makes with a NaN, come out in the order redis-server
 * gives them: glibc's `qsort` (2.36, Debian's: a top-down merge sort, stable, `msort_with_tmp`),
 * and Redis's `pqsort` (NetBSD's quicksort that sorts only the part of the array asked for, as
 * GEOSEARCH ... COUNT n does). Both take a C-style comparator (negative, 0, positive).
 */

export type Comparator<T> = (a: T, b: T) => number;

/** glibc's qsort: sorts `items` in place, stably (one merge buffer as long as `items`). */
export function mergeSort<T>(items: T[], compare: Comparator<T>): void {
  if (items.length > 1) mergeRange(items, 0, items.length, compare, new Array<T>(items.length));
}

function mergeRange<T>(items: T[], start: number, count: number, compare: Comparator<T>, scratch: T[]): void {
  if (count <= 1) return;
  const leftCount = Math.floor(count / 2);
  mergeRange(items, start, leftCount, compare, scratch);
  mergeRange(items, start + leftCount, count - leftCount, compare, scratch);
  let left = start;
  let right = start + leftCount;
  let leftLeft = leftCount;
  let rightLeft = count - leftCount;
  let out = 0;
  while (leftLeft > 0 && rightLeft > 0) {
    // A tie takes the left one first: stable.
    if (compare(items[left] as T, items[right] as T) <= 0) {
      scratch[out++] = items[left++] as T;
      leftLeft--;
    } else {
      scratch[out++] = items[right++] as T;
      rightLeft--;
    }
  }
  while (leftLeft-- > 0) scratch[out++] = items[left++] as T;
  // What is left on the right is in place already.
  for (let i = 0; i < count - rightLeft; i++) items[start + i] = scratch[i] as T;
}

function swap<T>(items: T[], i: number, j: number): void {
  const kept = items[i] as T;
  items[i] = items[j] as T;
  items[j] = kept;
}

/** Swaps `count` items from `i` on with as many from `j` on, one by one in order (pqsort's vecswap). */
function swapRuns<T>(items: T[], i: number, j: number, count: number): void {
  for (let k = 0; k < count; k++) swap(items, i + k, j + k);
}

function median3<T>(items: T[], a: number, b: number, c: number, compare: Comparator<T>): number {
  const at = (i: number): T => items[i] as T;
  return compare(at(a), at(b)) < 0
    ? compare(at(b), at(c)) < 0
      ? b
      : compare(at(a), at(c)) < 0
        ? c
        : a
    : compare(at(b), at(c)) > 0
      ? b
      : compare(at(a), at(c)) < 0
        ? a
        : c;
}

/**
 * Redis's `pqsort(items, n, compare, first, last)`: sorts `items` so that positions `first` to
 * `last` hold what a full sort would put there (and in order); the rest is left partitioned.
 */
export function partialQuickSort<T>(items: T[], compare: Comparator<T>, first: number, last: number): void {
  partialRange(items, 0, items.length, compare, first, last);
}

/** True when the range [start, start + count) holds none of positions `first`..`last` on the same side. */
function outside(start: number, count: number, first: number, last: number): boolean {
  return (first < start && last < start) || (first >= start + count && last >= start + count);
}

function partialRange<T>(items: T[], base: number, count: number, compare: Comparator<T>, first: number, last: number): void {
  const at = (i: number): T => items[i] as T;
  let start = base;
  let n = count;
  for (;;) {
    if (n < 7) {
      // Insertion sort.
      for (let m = start + 1; m < start + n; m++) {
        for (let l = m; l > start && compare(at(l - 1), at(l)) > 0; l--) swap(items, l, l - 1);
      }
      return;
    }
    let middle = start + Math.floor(n / 2);
    if (n > 7) {
      let low = start;
      let high = start + n - 1;
      if (n > 40) {
        const d = Math.floor(n / 8);
        low = median3(items, low, low + d, low + 2 * d, compare);
        middle = median3(items, middle - d, middle, middle + d, compare);
        high = median3(items, high - 2 * d, high - d, high, compare);
      }
      middle = median3(items, low, middle, high, compare);
    }
    swap(items, start, middle);
    // Bentley-McIlroy three-way partition around items[start]: equal keys gather at both ends.
    let pa = start + 1;
    let pb = pa;
    let pc = start + n - 1;
    let pd = pc;
    for (;;) {
      let result = 0;
      while (pb <= pc && (result = compare(at(pb), at(start))) <= 0) {
        if (result === 0) swap(items, pa++, pb);
        pb++;
      }
      while (pb <= pc && (result = compare(at(pc), at(start))) >= 0) {
        if (result === 0) swap(items, pc, pd--);
        pc--;
      }
      if (pb > pc) break;
      swap(items, pb++, pc--);
    }
    const end = start + n;
    let r = Math.min(pa - start, pb - pa);
    swapRuns(items, start, pb - r, r);
    r = Math.min(pd - pc, end - pd - 1);
    swapRuns(items, pb, end - r, r);
    r = pb - pa;
    if (r > 1 && !outside(start, r, first, last)) partialRange(items, start, r, compare, first, last);
    r = pd - pc;
    if (r <= 1) return;
    // The right part iteratively, as pqsort does.
    start = end - r;
    n = r;
    if (outside(start, n, first, last)) return;
  }
}
