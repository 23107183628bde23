/**
 * The GHP picture (issue 7 §3, issue 14 §4; paper Fig. 5, hp-method.md §5.2): for a few anchors taken from
 * different images of the batch, numbered, the patches of every batch image that are their global hidden
 * positives — task-agnostic only (blue), task-specific only (orange) or both (green), everything else dimmed
 * — and, when the batch has labels, a red cross on every positive whose class differs from its anchor's.
 * A title, a legend, column headers and one line of counts per anchor are drawn into the picture.
 * @module
 */
import { checkRgb, Raster, type Rgb, type RgbImage } from "./raster.ts";
import {
  drawBadge,
  drawCross,
  drawLegend,
  drawTitle,
  fitText,
  INK,
  legendHeight,
  type LegendItem,
  MUTED_INK,
  PAD,
  TEXT_SCALE,
  titleHeight,
} from "./annotate.ts";
import { drawText, textHeight } from "./font.ts";
import { ANCHOR_RGB, DIM_ALPHA, GAP, patchRect } from "./tiles.ts";

/** Tints of task-agnostic-only, task-specific-only and both-kind positives, and the wrong-class cross. */
export const TA_RGB: Rgb = [40, 110, 235];
export const TS_RGB: Rgb = [245, 140, 0];
export const BOTH_RGB: Rgb = [20, 190, 80];
export const WRONG_RGB: Rgb = [235, 20, 20];
/** Strength of a positive's tint (blend = (1 − α)·pixel + α·colour). */
export const TINT_ALPHA = 0.6;
/** Set flags of a patch in {@link GhpAnchor.sets}. */
export const TASK_AGNOSTIC = 1, TASK_SPECIFIC = 2;

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [200, 200, 200];
const GREY_TEXT: Rgb = [90, 90, 90];

/** One anchor of {@link ghpPicture}. */
export interface GhpAnchor {
  /** Batch index b of the anchor's image. */
  image: number;
  /** Patch index p of the anchor in its image. */
  patch: number;
  /**
   * Over the B·P patches of the shown images (index b·P + p): bit {@link TASK_AGNOSTIC} set when the patch is
   * in P_i^ag, bit {@link TASK_SPECIFIC} when in P_i^sp (core/viz/ghp_set.ts ghpAnchorSets); 0 = no positive.
   */
  sets: ArrayLike<number>;
  /** Crop of the anchor's nearest reference-pool member, when the pool keeps where its entries came from. */
  nearest?: RgbImage;
}

/** Input of {@link ghpPicture}. */
export interface GhpPictureInput {
  /** The B batch images shown (uint8 RGB, any common size). */
  images: RgbImage[];
  /** S, patches per side. */
  grid: number;
  anchors: GhpAnchor[];
  /** Tile size in pixels (default 128). */
  thumb?: number;
  /** Class of each patch (B·P; −1 = unknown): positives of another class than their anchor get a cross. */
  patchLabels?: ArrayLike<number>;
  /** Title line (default "GHP positives"). */
  title?: string;
}

/** Counts of one anchor's positives, and how many of them share its class where both classes are known. */
export interface GhpRowStats {
  ag: number;
  sp: number;
  both: number;
  /** Positives with a known class (anchor's class known too), and those of the anchor's class. */
  agKnown: number;
  agRight: number;
  spKnown: number;
  spRight: number;
}

/** Counts for one anchor (see {@link GhpRowStats}); the anchor itself is never its own positive. */
export function ghpRowStats(a: GhpAnchor, P: number, patchLabels?: ArrayLike<number>): GhpRowStats {
  const s: GhpRowStats = { ag: 0, sp: 0, both: 0, agKnown: 0, agRight: 0, spKnown: 0, spRight: 0 };
  const own = patchLabels ? patchLabels[a.image * P + a.patch] : -1;
  for (let j = 0; j < a.sets.length; j++) {
    const f = a.sets[j];
    if (!f) continue;
    const ag = (f & TASK_AGNOSTIC) !== 0, sp = (f & TASK_SPECIFIC) !== 0;
    if (ag) s.ag++;
    if (sp) s.sp++;
    if (ag && sp) s.both++;
    const l = patchLabels ? patchLabels[j] : -1;
    if (own >= 0 && l >= 0) {
      if (ag) {
        s.agKnown++;
        if (l === own) s.agRight++;
      }
      if (sp) {
        s.spKnown++;
        if (l === own) s.spRight++;
      }
    }
  }
  return s;
}

/** Where things are in a GHP picture: tile origins for row `row` and column `col` (0 = anchor image). */
export interface GhpLayout {
  width: number;
  height: number;
  /** Top of the first anchor row's tiles. */
  tileX(col: number): number;
  tileY(row: number): number;
}

function legendItems(labels: boolean): LegendItem[] {
  const items: LegendItem[] = [
    { label: "anchor (numbered)", outline: ANCHOR_RGB },
    { label: "task-agnostic positive (TA)", fill: TA_RGB, alpha: TINT_ALPHA },
    { label: "task-specific positive (TS)", fill: TS_RGB, alpha: TINT_ALPHA },
    { label: "both", fill: BOTH_RGB, alpha: TINT_ALPHA },
    { label: "not a positive (dimmed)", fill: BLACK, alpha: DIM_ALPHA },
  ];
  if (labels) items.push({ label: "other class than the anchor (labels)", cross: WRONG_RGB });
  items.push({
    label: "pool: the anchor's nearest Pool_ag member (sets its threshold)",
    fill: GREY,
    alpha: 0,
  });
  return items;
}

/** The layout of {@link ghpPicture} for `input`. */
export function ghpLayout(input: GhpPictureInput): GhpLayout {
  const T = input.thumb ?? 128, cols = input.images.length + 2;
  const width = Math.max(cols * T + (cols - 1) * GAP, 520);
  const lineH = textHeight(TEXT_SCALE) + 2 * PAD;
  const top = titleHeight() + legendHeight(legendItems(input.patchLabels !== undefined), width) + lineH;
  const rowH = lineH + T + GAP;
  return {
    width,
    height: top + input.anchors.length * rowH,
    tileX: (col) => col * (T + GAP),
    tileY: (row) => top + row * rowH + lineH,
  };
}

function tint(f: number): Rgb {
  return f === (TASK_AGNOSTIC | TASK_SPECIFIC) ? BOTH_RGB : f & TASK_AGNOSTIC ? TA_RGB : TS_RGB;
}

const pct = (right: number, known: number, long: boolean) =>
  known > 0 ? ` (${Math.round((100 * right) / known)}%${long ? " same class" : ""})` : "";

/** Draws the GHP picture; see the module comment. Returns PNG bytes. */
export function ghpPicture(input: GhpPictureInput): Uint8Array {
  const { images, grid, anchors, patchLabels } = input;
  const T = input.thumb ?? 128;
  const B = images.length, P = grid * grid;
  if (B === 0 || anchors.length === 0) {
    throw new RangeError("ghpPicture: needs at least one image and one anchor");
  }
  images.forEach((im, b) => checkRgb(im, `ghpPicture image ${b}`));
  if (patchLabels && patchLabels.length !== B * P) {
    throw new TypeError(`ghpPicture: patchLabels has ${patchLabels.length} entries, need B·P = ${B * P}`);
  }
  const L = ghpLayout(input);
  const r = new Raster(L.width, L.height);
  let y = drawTitle(r, 0, 0, input.title ?? "GHP positives", L.width);
  y += drawLegend(r, 0, y, legendItems(patchLabels !== undefined), L.width);
  const heads = ["anchor", "pool", ...images.map((_, b) => `image ${b + 1}`)];
  heads.forEach((h, c) =>
    drawText(r, L.tileX(c) + 2, y + PAD, fitText(h, T - 4, TEXT_SCALE), MUTED_INK, TEXT_SCALE)
  );
  anchors.forEach((a, row) => {
    if (!Number.isInteger(a.image) || a.image < 0 || a.image >= B) {
      throw new RangeError(`ghpPicture anchor ${row}: image ${a.image} is outside 0..${B - 1}`);
    }
    if (!Number.isInteger(a.patch) || a.patch < 0 || a.patch >= P) {
      throw new RangeError(
        `ghpPicture anchor ${row}: patch index ${a.patch} is outside 0..${P - 1} (S = ${grid})`,
      );
    }
    if (a.sets.length !== B * P) {
      throw new TypeError(`ghpPicture anchor ${row}: sets has ${a.sets.length} entries, need B·P = ${B * P}`);
    }
    const ty = L.tileY(row), n = String(row + 1);
    const st = ghpRowStats(a, P, patchLabels);
    const line = `${n}: TA ${st.ag}${pct(st.agRight, st.agKnown, true)} · TS ${st.sp}` +
      `${pct(st.spRight, st.spKnown, false)} · both ${st.both}`;
    drawText(
      r,
      PAD,
      ty - textHeight(TEXT_SCALE) - PAD,
      fitText(line, L.width - 2 * PAD, TEXT_SCALE),
      INK,
      TEXT_SCALE,
    );
    r.blit(images[a.image], L.tileX(0), ty, T, T);
    const [ax, ay, aw, ah] = patchRect(a.patch, grid, T);
    r.outline(L.tileX(0) + ax, ty + ay, aw, ah, ANCHOR_RGB, 3);
    drawBadge(r, L.tileX(0) + 2, ty + 2, n, ANCHOR_RGB);
    if (a.nearest) {
      checkRgb(a.nearest, `ghpPicture anchor ${row} nearest`);
      r.blit(a.nearest, L.tileX(1), ty, T, T);
    } else {
      r.fill(L.tileX(1), ty, T, T, GREY);
      drawText(r, L.tileX(1) + 6, ty + T / 2 - 7, "unknown", GREY_TEXT, TEXT_SCALE);
    }
    const own = patchLabels ? patchLabels[a.image * P + a.patch] : -1;
    for (let b = 0; b < B; b++) {
      const x = L.tileX(b + 2);
      r.blit(images[b], x, ty, T, T);
      for (let p = 0; p < P; p++) {
        const f = a.sets[b * P + p];
        const [px, py, pw, ph] = patchRect(p, grid, T);
        if (f) {
          r.blend(x + px, ty + py, pw, ph, tint(f), TINT_ALPHA);
          const l = patchLabels ? patchLabels[b * P + p] : -1;
          if (own >= 0 && l >= 0 && l !== own) {
            drawCross(r, x + px + 1, ty + py + 1, pw - 2, ph - 2, WRONG_RGB, 2);
          }
        } else r.blend(x + px, ty + py, pw, ph, BLACK, DIM_ALPHA);
      }
      if (b === a.image) {
        r.outline(x + ax, ty + ay, aw, ah, ANCHOR_RGB, 3);
        drawBadge(r, x + 2, ty + 2, n, ANCHOR_RGB);
      }
    }
  });
  return r.png();
}
