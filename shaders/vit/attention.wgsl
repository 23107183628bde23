// attention.wgsl — fused multi-head self-attention of one ViT block over all images × heads:
//   o_h = softmax(scale · q_h·k_hᵀ) · v_h   per image and head, with an online (streaming) softmax, so the
//   [images, H, N, N] score tensor never exists (dino-backbone.md §6.3 item 2, webgpu-notes.md §2.3).
//
// Layout (as the qkv GEMM writes it): qkv [images·N, 3C] with q, k, v of head h in columns
//   h·HD .. h·HD+HD-1 of the first, second and third C-wide third; o [images·N, C], head h in its columns
//   h·HD .. (the layout the proj GEMM reads).
// Bindings: 0 qkv read, 1 o read_write, 2 params uniform.
// Grid: (ceil(N/QT), H, images); workgroup QT threads, one query row each (rows ≥ N only help load).
// Per key tile of KT keys: the K and V rows of the tile are staged in workgroup memory as vec4 (every
// thread then reads the same address: a broadcast), each thread computes its KT scores into registers,
// rescales its running (max m, sum l, accumulator o) once per tile, and adds p_j·v_j.
// HD4 (vec4s per head, head dim padded to a multiple of 4 with zeros) and KT are constants that
// core/vit/attention.ts writes into the two `const` lines below for each head dim; it also writes out
// every one-line d4 loop as HD4 copies with literal indices, so the q and accumulator arrays are indexed
// by constants only and live in registers (webgpu-notes.md §8). Keep d4 loops on one line.
// Keys past N get the finite score −1e30 (exp → 0), never −inf (webgpu-notes.md §2.3).
// qkv and o are stored as ST: f32, or f16 under the ViT's f16 precision (the wrapper sets the alias line and
// puts `enable f16;` in front of line 1). Tiles, scores, softmax and accumulators are f32 whatever ST is;
// each output element is rounded once when stored.
//
// wrapper: core/vit/attention.ts
// reference: core/vit/attention.ts attentionRef
// test: tests/vit/attention_test.ts

const HD4: u32 = 16u;
const KT: u32 = 32u;
const QT: u32 = 64u;

struct Params { N: u32, C: u32, HD: u32, scale: f32, }

alias ST = f32;
@group(0) @binding(0) var<storage, read> qkv: array<ST>;
@group(0) @binding(1) var<storage, read_write> o: array<ST>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> Ks: array<vec4<f32>, KT * HD4>;
var<workgroup> Vs: array<vec4<f32>, KT * HD4>;

// Element d of the head slice starting at `base` (zero in the padding past HD).
fn at(base: u32, d: u32) -> f32 {
  if (d >= p.HD) { return 0.0; }
  return f32(qkv[base + d]);
}

fn at4(base: u32, d4: u32) -> vec4<f32> {
  let d = d4 * 4u;
  return vec4<f32>(at(base, d), at(base, d + 1u), at(base, d + 2u), at(base, d + 3u));
}

// Elements 4·d4 … 4·d4+3 of an output head slice starting at `base` (those past HD dropped).
fn put4(base: u32, d4: u32, v: vec4<f32>) {
  let d = d4 * 4u;
  if (d < p.HD) { o[base + d] = ST(v.x); }
  if (d + 1u < p.HD) { o[base + d + 1u] = ST(v.y); }
  if (d + 2u < p.HD) { o[base + d + 2u] = ST(v.z); }
  if (d + 3u < p.HD) { o[base + d + 3u] = ST(v.w); }
}

@compute @workgroup_size(QT, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = p.N;
  let C3 = 3u * p.C;
  let img = wid.z * N; // first token row of this image
  let col = wid.y * p.HD; // this head's first column within a third
  let row = wid.x * QT + lid;
  let live = row < N;

  var q: array<vec4<f32>, HD4>;
  var acc: array<vec4<f32>, HD4>;
  for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { q[d4] = select(vec4<f32>(0.0), at4((img + row) * C3 + col, d4), live); }
  for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { acc[d4] = vec4<f32>(0.0); }
  var m = -3.0e38; // the first tile holds at least one key, so m is a real score after it
  var l = 0.0;
  var s: array<f32, KT>;

  for (var k0: u32 = 0u; k0 < N; k0 = k0 + KT) {
    workgroupBarrier(); // the previous tile is consumed
    for (var e: u32 = lid; e < KT * HD4; e = e + QT) {
      let j = k0 + e / HD4;
      let d4 = e % HD4;
      var kv = vec4<f32>(0.0);
      var vv = vec4<f32>(0.0);
      if (j < N) {
        kv = at4((img + j) * C3 + p.C + col, d4);
        vv = at4((img + j) * C3 + 2u * p.C + col, d4);
      }
      Ks[e] = kv;
      Vs[e] = vv;
    }
    workgroupBarrier();
    let nk = min(KT, N - k0); // keys in this tile (uniform across the workgroup)
    var mt = m;
    for (var j: u32 = 0u; j < KT; j = j + 1u) {
      var t = vec4<f32>(0.0);
      for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { t = fma(q[d4], Ks[j * HD4 + d4], t); }
      // Keys past N (zeros in the tile) get a score whose exp is 0: no branch in the loop below.
      let sj = select(-1.0e30, p.scale * (t.x + t.y + t.z + t.w), j < nk);
      s[j] = sj;
      mt = max(mt, sj);
    }
    let corr = exp(m - mt);
    l = l * corr;
    for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { acc[d4] = acc[d4] * corr; }
    m = mt;
    for (var j: u32 = 0u; j < KT; j = j + 1u) {
      let pj = exp(s[j] - m);
      l = l + pj;
      for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { acc[d4] = fma(vec4<f32>(pj), Vs[j * HD4 + d4], acc[d4]); }
    }
  }
  if (!live) { return; }
  let inv = 1.0 / l;
  let out = (img + row) * p.C + col;
  for (var d4: u32 = 0u; d4 < HD4; d4 = d4 + 1u) { put4(out, d4, acc[d4] * inv); }
}
