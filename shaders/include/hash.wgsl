// hash.wgsl — not a kernel: the counter-based hash of every shader that needs randomness.
// Same function as core/rng.ts hash32 / hashUniform, so CPU references reproduce GPU masks exactly.
//
// fragment: hash32 / hash_uniform, the counter-based random numbers of dropout masks and Bernoulli negatives
// reference: core/rng.ts hash32, hashUniform
// test: tests/kernels/dropout_test.ts

fn hash32(seed: u32, index: u32) -> u32 {
  var x = (index * 0x9e3779b9u) ^ seed;
  x = x ^ (x >> 16u);
  x = x * 0x7feb352du;
  x = x ^ (x >> 15u);
  x = x * 0x846ca68bu;
  x = x ^ (x >> 16u);
  return x;
}

fn hash_uniform(seed: u32, index: u32) -> f32 {
  return f32(hash32(seed, index) >> 8u) / 16777216.0;
}
