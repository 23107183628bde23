// elementwise.wgsl — strided elementwise ops over a [rows, cols] index space, f32.
//
// For every (r, c), r < rows, c < cols (linear i = r·cols + c, 256 threads per workgroup on a 2-D grid):
//   x = X[x_off + r*ldx + c*incx]   y = Y[y_off + r*ldy + c*incy]   o = O[o_off + r*ldo + c*inco]
//   v = OP(x, y):  0 copy  x            1 fill  beta             2 scale  alpha·x + beta
//                  3 add   alpha·x + beta·y                      4 mul    alpha·x·y
//                  5 div   alpha·x / y  6 relu  max(x, 0)        7 gelu   x·Φ(x) (erf, A&S 7.1.26)
//                  8 relu_grad  y·[x > 0]                        9 gelu_grad  y·(Φ(x) + x·φ(x))
//   O = v  (O + v when ACCUMULATE: axpy is scale with beta = 0 and ACCUMULATE)
// Strides of 0 broadcast (ldy = 0: one row for all rows, e.g. a bias; incy = 0: one value per row).
// In place: X_IS_O / Y_IS_O read x / y from O itself (a buffer cannot be bound read and read_write in
// one dispatch, webgpu-notes.md §1.10); the TS wrapper requires identical layouts then.
//
// Bindings (group 0): 0 X read, 1 Y read, 2 O read_write, 3 params uniform.
//
// wrapper: core/kernels/elementwise.ts
// reference: core/kernels/elementwise.ts elementwiseRef
// test: tests/kernels/elementwise_test.ts

override OP: u32 = 0u;
override ACCUMULATE: bool = false;
override X_IS_O: bool = false;
override Y_IS_O: bool = false;

struct Params {
  rows: u32, cols: u32, ldx: u32, incx: u32,
  ldy: u32, incy: u32, ldo: u32, inco: u32,
  x_off: u32, y_off: u32, o_off: u32, alpha: f32,
  beta: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn erf_approx(x: f32) -> f32 {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), odd extension (dino-backbone.md §2).
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return sign(x) * y;
}

fn phi_cdf(x: f32) -> f32 { return 0.5 * (1.0 + erf_approx(x * 0.7071067811865476)); }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  let oi = p.o_off + r * p.ldo + c * p.inco;
  var x = 0.0;
  var y = 0.0;
  if (OP != 1u) {
    if (X_IS_O) { x = O[oi]; } else { x = X[p.x_off + r * p.ldx + c * p.incx]; }
  }
  if (OP == 3u || OP == 4u || OP == 5u || OP == 8u || OP == 9u) {
    if (Y_IS_O) { y = O[oi]; } else { y = Y[p.y_off + r * p.ldy + c * p.incy]; }
  }
  var v: f32;
  switch OP {
    case 0u: { v = x; }
    case 1u: { v = p.beta; }
    case 2u: { v = p.alpha * x + p.beta; }
    case 3u: { v = p.alpha * x + p.beta * y; }
    case 4u: { v = p.alpha * x * y; }
    case 5u: { v = p.alpha * x / y; }
    case 6u: { v = max(x, 0.0); }
    case 7u: { v = x * phi_cdf(x); }
    case 8u: { v = select(0.0, y, x > 0.0); }
    case 9u: { v = y * (phi_cdf(x) + x * 0.3989422804014327 * exp(-0.5 * x * x)); }
    default: { v = x; }
  }
  if (ACCUMULATE) { v = v + O[oi]; }
  O[oi] = v;
}
