/**
 * Optimal one-to-one assignment (Hungarian method, shortest augmenting paths with potentials, O(n²·m)).
 *
 * Used by the cluster metric (hp-method.md §8.4): scipy's `linear_sum_assignment(H, maximize=True)` on the
 * n_clusters × n_classes confusion matrix. Our own implementation; tests compare it with brute force over all
 * permutations and with scipy-produced fixtures.
 * @module
 */

/**
 * Solves the rectangular assignment problem on `cost` (rows × cols, row-major).
 * Every row is matched to a distinct column when rows ≤ cols (otherwise every column to a distinct row).
 * @param cost flat row-major matrix
 * @param rows number of rows
 * @param cols number of columns
 * @param maximize maximise the total instead of minimising it (scipy's `maximize=True`)
 * @returns `rowToCol[r]` = matched column of row r, or −1 for unmatched rows (only when rows > cols)
 */
export function hungarian(
  cost: ArrayLike<number>,
  rows: number,
  cols: number,
  maximize = false,
): Int32Array {
  if (cost.length !== rows * cols) {
    throw new TypeError(`hungarian: ${cost.length} values do not fill a ${rows}×${cols} matrix`);
  }
  for (let i = 0; i < cost.length; i++) {
    if (!Number.isFinite(cost[i])) throw new RangeError(`hungarian: entry ${i} is not finite: ${cost[i]}`);
  }
  // Work on an n×m matrix with n ≤ m; transpose when there are more rows than columns.
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  const sign = maximize ? -1 : 1;
  // a[i][j], 1-based indices as in the classical potential formulation.
  const a = (i: number, j: number): number =>
    sign * (transpose ? cost[(j - 1) * cols + (i - 1)] : cost[(i - 1) * cols + (j - 1)]);

  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j] = row matched to column j (0 = none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity, j1 = -1;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = a(i0, j) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    // Augment along the alternating path.
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Int32Array(rows).fill(-1);
  for (let j = 1; j <= m; j++) {
    if (p[j] === 0) continue;
    if (transpose) rowToCol[j - 1] = p[j] - 1;
    else rowToCol[p[j] - 1] = j - 1;
  }
  return rowToCol;
}

/** Total of `cost` over an assignment returned by {@link hungarian}. */
export function assignmentTotal(cost: ArrayLike<number>, cols: number, rowToCol: ArrayLike<number>): number {
  let s = 0;
  for (let r = 0; r < rowToCol.length; r++) if (rowToCol[r] >= 0) s += cost[r * cols + rowToCol[r]];
  return s;
}
