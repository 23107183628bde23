/**
 * Training checkpoints (core/model/checkpoint.ts): bit-exact round trip, refusal of truncated or mismatched
 * files with an InputError naming the file, run-directory rotation and resume selection, and import of an
 * official HP ckpt.pth (tiny fixture written by tests/fixtures/hp_heads/gen_official_ckpt.py with PyTorch).
 */
import assert from "node:assert/strict";
import { InputError } from "../../core/errors.ts";
import { encodeSafetensors } from "../../core/io/safetensors.ts";
import { loadConfig } from "../../core/model/config.ts";
import {
  emaKey,
  encodeCheckpoint,
  importOfficialHpCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type TrainState,
} from "../../core/model/checkpoint.ts";
import {
  checkpointDir,
  findResumeCheckpoint,
  listStepCheckpoints,
  saveRunCheckpoint,
} from "../../core/train/run_checkpoints.ts";
import { HEAD_KEYS, headLayout, projectionLayout } from "../../core/model/params.ts";
import { Rng } from "../../core/rng.ts";
import { assertRejectsInputError, randnF32 } from "../_util.ts";

function makeState(step: number): TrainState {
  const Df = 24, D = 16, K = 10, n = 5;
  const hl = headLayout(Df, D), pl = projectionLayout(D);
  const rng = new Rng(step);
  return {
    config: loadConfig("synthetic", ["hp.tau=0.7"]),
    step,
    epoch: 1,
    batchInEpoch: 7,
    rng: { main: rng.state, pools: new Rng(99).state },
    dims: { Df, D, K },
    head: hl.init(rng),
    ema: hl.init(rng),
    projection: pl.init(rng),
    pools: { ag: randnF32(K * Df, 1), sp: randnF32(K * D, 2) },
    probes: {
      "linear.weight": { shape: [n, D], data: randnF32(n * D, 3) },
      "linear.bias": { shape: [n], data: randnF32(n, 4) },
      "cluster.clusters": { shape: [n, D], data: randnF32(n * D, 5) },
    },
    optim: {
      head: { step, m: randnF32(hl.total, 6), v: randnF32(hl.total, 7).map(Math.abs) },
      projection: { step, m: randnF32(pl.total, 8), v: randnF32(pl.total, 9).map(Math.abs) },
    },
    extra: { best: { score: 123.5, step: 4 } },
  };
}

Deno.test("saveCheckpoint()/loadCheckpoint() round-trip every part of the state bit for bit", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const s = makeState(42);
    const path = `${dir}/a.safetensors`;
    await saveCheckpoint(path, s);
    const back = await loadCheckpoint(path, { D: 16 });
    assert.deepEqual(back, s);
    assert.deepEqual(new Rng(back.rng.main).nextU32(), new Rng(s.rng.main).nextU32());
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadCheckpoint() refuses truncated, foreign and mismatched files naming the file", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const bytes = encodeCheckpoint(makeState(3));
    const cut = `${dir}/cut.safetensors`;
    Deno.writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    await assertRejectsInputError(loadCheckpoint(cut), cut, "truncated");
    Deno.writeFileSync(cut, bytes.subarray(0, 5));
    await assertRejectsInputError(loadCheckpoint(cut), cut, "truncated");

    const foreign = `${dir}/foreign.safetensors`;
    Deno.writeFileSync(foreign, encodeSafetensors({ x: { shape: [1], data: new Float32Array(1) } }));
    await assertRejectsInputError(loadCheckpoint(foreign), foreign, "not an hpseg training checkpoint");

    const good = `${dir}/good.safetensors`;
    Deno.writeFileSync(good, bytes);
    await assertRejectsInputError(loadCheckpoint(good, { D: 512 }), good, "D is 16, this run needs 512");

    // Metadata dims that disagree with the stored pools (same-length edit of the header: K 10 → 11).
    const text = new TextDecoder().decode(bytes);
    const at = text.indexOf('\\"K\\":10');
    assert.ok(at > 0, "dims.K not found in the header");
    const edited = bytes.slice();
    edited.set(new TextEncoder().encode('\\"K\\":11'), at);
    const wrong = `${dir}/wrong.safetensors`;
    Deno.writeFileSync(wrong, edited);
    await assertRejectsInputError(
      loadCheckpoint(wrong),
      wrong,
      '"pool.ag" has shape [10, 24], expected [11, 24]',
    );

    // A config that no longer validates.
    const meta = makeState(3);
    (meta.config.hp as { tau: number }).tau = -1;
    Deno.writeFileSync(wrong, encodeCheckpoint(meta));
    await assertRejectsInputError(loadCheckpoint(wrong), wrong, "hp.tau");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("saveRunCheckpoint() keeps last, best and the newest two step files; resume skips a corrupt last", async () => {
  const run = Deno.makeTempDirSync();
  try {
    for (const step of [10, 20, 30]) await saveRunCheckpoint(run, makeState(step), { best: step === 20 });
    const dir = checkpointDir(run);
    assert.deepEqual(listStepCheckpoints(run).map((s) => s.step), [20, 30]);
    assert.equal((await loadCheckpoint(`${dir}/best.safetensors`)).step, 20);
    const r = await findResumeCheckpoint(run);
    assert.equal(r?.path, `${dir}/last.safetensors`);
    assert.equal(r?.state.step, 30);
    // A crash that left a damaged last.safetensors (cannot happen with atomic writes, but disks fail).
    Deno.writeFileSync(`${dir}/last.safetensors`, new Uint8Array(20));
    const r2 = await findResumeCheckpoint(run);
    assert.equal(r2?.path, `${dir}/step-30.safetensors`);
    assert.equal(r2?.skipped.length, 1);
    assert.equal(await findResumeCheckpoint(`${run}/nothing`), null);
    // No temp files left behind by the atomic writes.
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
  } finally {
    Deno.removeSync(run, { recursive: true });
  }
});

Deno.test("importOfficialHpCheckpoint() reads heads, EMA heads and probes of an official ckpt.pth", () => {
  const fixture = new URL("../fixtures/hp_heads/official_tiny.pth", import.meta.url).pathname;
  const want = JSON.parse(
    Deno.readTextFileSync(new URL("../fixtures/hp_heads/official_tiny.json", import.meta.url)),
  );
  const got = importOfficialHpCheckpoint(fixture);
  assert.deepEqual(got.dims, { Df: 24, D: 16, nClasses: 5 });
  assert.deepEqual(got.info, { epoch: 2, iter: 1234, best: 0 });
  const hl = headLayout(24, 16);
  for (const key of Object.values(HEAD_KEYS)) {
    assert.deepEqual(
      Array.from(hl.slice(got.head, key)),
      Array.from(Float32Array.from(want.tensors[key])),
      key,
    );
    assert.deepEqual(
      Array.from(hl.slice(got.ema!, key)),
      Array.from(Float32Array.from(want.tensors[emaKey(key)])),
      emaKey(key),
    );
  }
  assert.deepEqual(
    Array.from(got.linear.weight),
    Array.from(Float32Array.from(want.tensors["linear.weight"])),
  );
  assert.deepEqual(Array.from(got.linear.bias), Array.from(Float32Array.from(want.tensors["linear.bias"])));
  assert.deepEqual(Array.from(got.clusters), Array.from(Float32Array.from(want.tensors.clusters)));
  // A non-HP file is refused with the file named.
  const dir = Deno.makeTempDirSync();
  try {
    const other = `${dir}/x.pth`;
    Deno.writeFileSync(other, new Uint8Array([1, 2, 3]));
    assert.throws(
      () => importOfficialHpCheckpoint(other),
      (e: unknown) => e instanceof InputError && e.message.includes(other),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
