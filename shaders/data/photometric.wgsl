// photometric.wgsl — the training batch on the GPU (hp-method.md §3.1, §3.3): u8 RGB crops → the
// ImageNet-normalised clean view, the photometrically augmented view ("img_aug", with the reference clamp
// quirk), and u8/i16 labels widened to i32.
//
// Entry points (one step records contrast_mean, pixels, blur; without augmentation only pixels; pool
// building records pixels with WRITE_LABELS off and AUG off):
//   contrast_mean  one workgroup per image: mean(gray(x)) of the image as it is when contrast runs (the ops
//                  before contrast in the image's permutation applied), written to TMP[B·3·P + b].
//   pixels         one thread per pixel: clean view (NORM_LUT, bit-exact with the CPU), label widening, and
//                  (AUG) the jitter permutation + grayscale into TMP.
//   blur           one thread per pixel: 5×5 Gaussian (separable taps, reflect padding, rows first as the
//                  CPU reference) or a copy when the image has no blur; in clean mode then normalise. → AUG.
//
// Layouts: RGB is the crops interleaved u8 [B, H, W, 3] packed 4 bytes per u32 (little-endian); LAB is the
// labels packed 4 (LABEL_BITS 8, 255 = ignore) or 2 (LABEL_BITS 16, signed) per u32; CLEAN, TMP, AUG are
// [B, 3, H, W] f32 (TMP has B more words for the means); LABELS [B, H, W] i32 (−1 = ignore).
// LUT (uniform, 256 vec4): entries 0..767 NORM_LUT (channel-major), 768..1023 v/255 (f32), both computed on
// the CPU exactly as core/image/transforms.ts does.
//
// Bindings (group 0):
//   0 RGB    read        array<u32>
//   1 LAB    read        array<u32>
//   2 PRM    read        array<AugImage> [B]
//   3 CLEAN  read_write  [B, 3, H, W]
//   4 TMP    read_write  [B, 3, H, W] + [B]
//   5 AUG    read_write  [B, 3, H, W]
//   6 LABELS read_write  [B, H, W] i32
//   7 LUT    uniform     array<vec4<f32>, 256>
//   8 params uniform     struct Params
// Workgroup: 256 threads; pixels/blur index = (wid.x + wid.y·num_wg.x)·256 + lid over B·H·W.
//
// wrapper: core/data/photometric.ts
// reference: core/data/augment.ts applyAug (+ core/image/transforms.ts normalizeImageNet)
// test: tests/data/photometric_test.ts

override AUG: bool = true;
override CLEAN_MODE: bool = false; // jitter in [0,1] RGB then normalise (the "clean" aug_mode)
override LABEL_BITS: u32 = 8u;
override WRITE_LABELS: bool = true; // false: the clean view only (pool building uploads no labels)

struct AugImage {
  order: vec4<u32>, // 0 brightness, 1 contrast, 2 saturation, 3 hue
  fac: vec4<f32>,   // brightness, contrast, saturation factors, hue shift
  flags: vec4<u32>, // gray, blur
  taps: vec4<f32>,  // Gaussian taps k0 (= k4), k1 (= k3), k2
}

struct Params {
  B: u32, H: u32, W: u32, _p0: u32,
  norm_mean: vec4<f32>, // ImageNet mean / std (clean mode's final normalisation)
  norm_std: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> RGB: array<u32>;
@group(0) @binding(1) var<storage, read> LAB: array<u32>;
@group(0) @binding(2) var<storage, read> PRM: array<AugImage>;
@group(0) @binding(3) var<storage, read_write> CLEAN: array<f32>;
@group(0) @binding(4) var<storage, read_write> TMP: array<f32>;
@group(0) @binding(5) var<storage, read_write> AUG_OUT: array<f32>;
@group(0) @binding(6) var<storage, read_write> LABELS: array<i32>;
@group(0) @binding(7) var<uniform> LUT: array<vec4<f32>, 256>;
@group(0) @binding(8) var<uniform> prm: Params;

fn lut(k: u32) -> f32 { return LUT[k >> 2u][k & 3u]; }

fn byte_at(k: u32) -> u32 { return (RGB[k >> 2u] >> ((k & 3u) * 8u)) & 255u; }

fn gray(x: vec3<f32>) -> f32 { return 0.2989 * x.r + 0.587 * x.g + 0.114 * x.b; }

fn clamp01(x: vec3<f32>) -> vec3<f32> { return clamp(x, vec3<f32>(0.0), vec3<f32>(1.0)); }

// torchvision _rgb2hsv → (h + δ) mod 1 → _hsv2rgb (p, q, t clamped, v not), as augment.ts hue().
fn hue(x: vec3<f32>, shift: f32) -> vec3<f32> {
  let r = x.r; let g = x.g; let b = x.b;
  let maxc = max(r, max(g, b));
  let minc = min(r, min(g, b));
  let eqc = maxc == minc;
  let cr = maxc - minc;
  let s = cr / select(maxc, 1.0, eqc);
  let div = select(cr, 1.0, eqc);
  let rc = (maxc - r) / div;
  let gc = (maxc - g) / div;
  let bc = (maxc - b) / div;
  var h: f32;
  if (maxc == r) { h = bc - gc; } else if (maxc == g) { h = 2.0 + rc - bc; } else { h = 4.0 + gc - rc; }
  h = fract(h / 6.0 + 1.0);
  h = h + shift;
  h = h - floor(h);
  let v = maxc;
  let i6 = floor(h * 6.0);
  let fr = h * 6.0 - i6;
  let p = clamp(v * (1.0 - s), 0.0, 1.0);
  let q = clamp(v * (1.0 - s * fr), 0.0, 1.0);
  let t = clamp(v * (1.0 - s * (1.0 - fr)), 0.0, 1.0);
  let sector = ((i32(i6) % 6) + 6) % 6;
  switch (sector) {
    case 0: { return vec3<f32>(v, t, p); }
    case 1: { return vec3<f32>(q, v, p); }
    case 2: { return vec3<f32>(p, v, t); }
    case 3: { return vec3<f32>(p, q, v); }
    case 4: { return vec3<f32>(t, p, v); }
    default: { return vec3<f32>(v, p, q); }
  }
}

// The jitter permutation on one pixel; with `before_contrast` it stops where contrast would run (its mean
// is what contrast_mean needs), otherwise `mean` is that image's contrast mean.
fn jitter(x0: vec3<f32>, a: AugImage, before_contrast: bool, mean: f32) -> vec3<f32> {
  var x = x0;
  for (var k = 0u; k < 4u; k++) {
    let op = a.order[k];
    if (op == 0u) {
      x = clamp01(a.fac.x * x);
    } else if (op == 1u) {
      if (before_contrast) { return x; }
      x = clamp01(a.fac.y * x + (1.0 - a.fac.y) * mean);
    } else if (op == 2u) {
      x = clamp01(a.fac.z * x + (1.0 - a.fac.z) * gray(x));
    } else {
      x = hue(x, a.fac.w);
    }
  }
  return x;
}

// The augmentation's starting value of pixel i of image b: normalised (reference quirk) or [0,1].
fn start_value(b: u32, i: u32, P: u32) -> vec3<f32> {
  let k = (b * P + i) * 3u;
  let r = byte_at(k); let g = byte_at(k + 1u); let bl = byte_at(k + 2u);
  if (CLEAN_MODE) { return vec3<f32>(lut(768u + r), lut(768u + g), lut(768u + bl)); }
  return vec3<f32>(lut(r), lut(256u + g), lut(512u + bl));
}

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn contrast_mean(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  let P = prm.H * prm.W;
  let a = PRM[b];
  var s = 0.0;
  for (var i = lid; i < P; i += 256u) { s += gray(jitter(start_value(b, i, P), a, true, 0.0)); }
  partial[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (lid < w) { partial[lid] += partial[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { TMP[prm.B * 3u * P + b] = partial[0] / f32(P); }
}

@compute @workgroup_size(256, 1, 1)
fn pixels(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let P = prm.H * prm.W;
  let t = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (t >= prm.B * P) { return; }
  let b = t / P;
  let i = t - b * P;
  let o = b * 3u * P + i;
  let k = t * 3u;
  CLEAN[o] = lut(byte_at(k));
  CLEAN[o + P] = lut(256u + byte_at(k + 1u));
  CLEAN[o + 2u * P] = lut(512u + byte_at(k + 2u));
  if (WRITE_LABELS && LABEL_BITS == 8u) {
    let v = (LAB[t >> 2u] >> ((t & 3u) * 8u)) & 255u;
    LABELS[t] = select(i32(v), -1, v == 255u);
  } else if (WRITE_LABELS) {
    let v = (LAB[t >> 1u] >> ((t & 1u) * 16u)) & 65535u;
    LABELS[t] = (i32(v << 16u)) >> 16u; // sign-extend
  }
  if (AUG) {
    let a = PRM[b];
    var x = jitter(start_value(b, i, P), a, false, TMP[prm.B * 3u * P + b]);
    if (a.flags.x != 0u) { x = vec3<f32>(gray(x)); }
    TMP[o] = x.r;
    TMP[o + P] = x.g;
    TMP[o + 2u * P] = x.b;
  }
}

// Reflect without edge repeat (torch "reflect"), valid for pads smaller than the size.
fn reflect(i: i32, n: i32) -> u32 {
  if (n == 1) { return 0u; }
  var j = i;
  for (var guard = 0; guard < 8 && (j < 0 || j >= n); guard++) {
    j = select(2 * (n - 1) - j, -j, j < 0);
  }
  return u32(j);
}

fn tap(a: AugImage, j: i32) -> f32 {
  let d = abs(j - 2);
  return select(select(a.taps.z, a.taps.y, d == 1), a.taps.x, d == 2);
}

@compute @workgroup_size(256, 1, 1)
fn blur(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let P = prm.H * prm.W;
  let t = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (t >= prm.B * P) { return; }
  let b = t / P;
  let i = t - b * P;
  let y = i32(i / prm.W);
  let x = i32(i % prm.W);
  let H = i32(prm.H);
  let W = i32(prm.W);
  let a = PRM[b];
  for (var c = 0u; c < 3u; c++) {
    let base = (b * 3u + c) * P;
    var v: f32;
    if (a.flags.y != 0u) {
      // Rows first (each row's horizontal 5-tap sum), then the vertical sum, as the CPU reference.
      v = 0.0;
      for (var jy = 0; jy < 5; jy++) {
        let row = base + reflect(y + jy - 2, H) * prm.W;
        var h = 0.0;
        for (var jx = 0; jx < 5; jx++) { h += tap(a, jx) * TMP[row + reflect(x + jx - 2, W)]; }
        v += tap(a, jy) * h;
      }
    } else {
      v = TMP[base + i];
    }
    if (CLEAN_MODE) { v = (v - prm.norm_mean[c]) / prm.norm_std[c]; }
    AUG_OUT[base + i] = v;
  }
}
