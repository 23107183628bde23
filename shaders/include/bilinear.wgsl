// bilinear.wgsl — not a kernel: PyTorch's bilinear taps (align_corners=false), shared by eval/evaluate_pixels.wgsl
// and model/probes.wgsl so evaluation and probe training upsample identically (core/model/probes.ts
// `bilinearTaps` is the CPU twin). Output index o of out_size reads input i0 and i1 with weight 1−l, l:
//   src = max((o + 0.5)·in/out − 0.5, 0), i0 = min(floor(src), in − 1), i1 = min(i0 + 1, in − 1), l = src − i0.
//
// fragment: PyTorch's bilinear taps (align_corners=false)
// reference: core/model/probes.ts bilinearTaps
// test: tests/model/probes_test.ts

struct Taps { i0: u32, i1: u32, l: f32 }

fn taps(o: u32, in_size: u32, out_size: u32) -> Taps {
  let src = max((f32(o) + 0.5) * (f32(in_size) / f32(out_size)) - 0.5, 0.0);
  let i0 = min(u32(floor(src)), in_size - 1u);
  return Taps(i0, min(i0 + 1u, in_size - 1u), src - f32(i0));
}
