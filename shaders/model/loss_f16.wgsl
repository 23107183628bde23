// loss_f16.wgsl — f16 copies of the mask inputs (hp.mask_precision = f16; hp-method.md §5.1–§5.2): the
// thresholds and the GHP masks only compare dot products, and the official code computes them in fp16, so
// f̂, ŝ̄ and the two pools can be read as f16 (half the bytes of the two N²- and N·K-sized passes; the dots
// still accumulate in f32). dst[e] = f16(src[e]) for e < n (round to nearest even).
// Bindings: 0 src [n] f32 read, 1 dst [n rounded up to even] f16 rw, 2 p uniform {n}.
// One thread per element, 256 per workgroup, grid1d.
//
// wrapper: core/model/loss.ts
// reference: tests/model/loss_test.ts (Math.f16round of the inputs, then thresholdsRef)
// test: tests/model/loss_test.ts
enable f16;

struct Params { n: u32, _p0: u32, _p1: u32, _p2: u32, }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f16>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
  let e = (wid.x + wid.y * nwg.x) * 256u + lid.x;
  if (e < p.n) { dst[e] = f16(src[e]); }
}
