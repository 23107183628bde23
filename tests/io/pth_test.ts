/**
 * PyTorch zip checkpoints and the restricted unpickler (dino-backbone.md §3.3–§3.4), on real torch.save
 * files from tests/fixtures/vit/make_fixtures.py: strided/offset/shared storages and other dtypes read
 * back exactly; legacy, truncated, random and hostile inputs fail with clear errors naming the file.
 * @module
 */
import assert from "node:assert/strict";
import { PthFile, PyObject, TensorRef } from "../../core/io/pth.ts";
import { unpickle } from "../../core/io/pickle.ts";
import { readSafetensorsSync } from "../../core/io/safetensors.ts";
import { assertInputError, rng } from "../_util.ts";

const FIX = new URL("../fixtures/vit/", import.meta.url).pathname;

Deno.test("PthFile reads strided, offset, shared, f16, i64, f64 and scalar tensors exactly", () => {
  const pth = PthFile.open(FIX + "views.pth");
  const exp = readSafetensorsSync(FIX + "views_expected.safetensors");
  try {
    assert.ok(pth.root instanceof Map);
    const root = pth.root as Map<unknown, unknown>;
    assert.deepEqual([...root.keys()].sort(), exp.keys().sort());
    for (const k of exp.keys()) {
      const ref = root.get(k);
      assert.ok(ref instanceof TensorRef, `${k} is a tensor`);
      assert.deepEqual(pth.info(ref).shape, exp.info(k).shape, `shape of ${k}`);
      assert.deepEqual(Array.from(pth.readTensor(ref)), Array.from(exp.getF32(k)), `values of ${k}`);
    }
    // Views share one storage: the transposed and offset tensors point at the same record.
    const t = root.get("transposed") as TensorRef, o = root.get("offset") as TensorRef;
    assert.equal(t.storage, o.storage);
    assert.deepEqual(t.stride, [1, 6]);
    assert.equal(o.offset, 6);
    assert.equal((root.get("half") as TensorRef).storage.dtype, "F16");
  } finally {
    pth.close();
    exp.close();
  }
});

Deno.test("PthFile parses a DINO-style full checkpoint with argparse.Namespace without executing it", () => {
  const pth = PthFile.open(FIX + "tiny_full.pth");
  try {
    const root = pth.root as Map<unknown, unknown>;
    assert.equal(root.get("epoch"), 100);
    const args = root.get("args");
    assert.ok(args instanceof PyObject);
    assert.equal(args.cls, "argparse.Namespace");
    const state = args.state as Map<unknown, unknown>;
    assert.equal(state.get("arch"), "vit_tiny");
    assert.equal(state.get("lr"), 0.0005);
    assert.equal(state.get("use_fp16"), true);
    const teacher = root.get("teacher") as Map<string, unknown>;
    assert.ok(teacher.get("backbone.cls_token") instanceof TensorRef);
  } finally {
    pth.close();
  }
});

Deno.test("PthFile rejects legacy, truncated and random files with clear errors", async () => {
  assertInputError(
    () => PthFile.open(FIX + "legacy.pth"),
    "legacy.pth",
    /legacy \(pre-1\.6\)[\s\S]*hint: re-save/,
  );
  assertInputError(
    () => PthFile.open(FIX + "tiny_truncated.pth"),
    "tiny_truncated.pth",
    /end-of-central-directory|truncated/,
  );
  const r = rng(3);
  const random = await Deno.makeTempFile({ suffix: ".pth" });
  const zipHead = await Deno.makeTempFile({ suffix: ".pth" });
  try {
    await Deno.writeFile(random, Uint8Array.from({ length: 5000 }, () => Math.floor(r() * 256)));
    assertInputError(() => PthFile.open(random), random, /not a zip-format/);
    // A PK signature followed by garbage: no end-of-central-directory record.
    const b = Uint8Array.from({ length: 3000 }, () => Math.floor(r() * 256));
    b.set([0x50, 0x4b, 0x03, 0x04]);
    await Deno.writeFile(zipHead, b);
    assertInputError(() => PthFile.open(zipHead), zipHead, /end-of-central-directory|truncated|corrupt/);
  } finally {
    await Deno.remove(random);
    await Deno.remove(zipHead);
  }
  assertInputError(() => PthFile.open(FIX + "nope.pth"), "nope.pth", /no such file/);
});

Deno.test("unpickle() refuses unknown globals and opcodes, naming the file, opcode and offset", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const noPid = () => null;
  // GLOBAL os.system — the classic pickle exploit — must be refused, not resolved.
  const evil = new Uint8Array([
    0x80,
    0x02,
    ...enc("cos\nsystem\n"),
    0x58,
    2,
    0,
    0,
    0,
    ...enc("ls"),
    0x85,
    0x52,
    0x2e,
  ]);
  assert.throws(
    () => unpickle(evil, "evil.pth", noPid),
    /evil\.pth: refusing unknown global os\.system.*opcode 0x63 at byte 2/,
  );
  // INST (0x69) is a protocol-0 opcode we do not implement.
  assert.throws(
    () => unpickle(new Uint8Array([0x80, 0x02, 0x69]), "x.pth", noPid),
    /unsupported pickle opcode.*0x69 at byte 2/,
  );
  assert.throws(
    () => unpickle(new Uint8Array([0x80, 0x02, 0x58, 0xff, 0xff, 0, 0]), "t.pth", noPid),
    /truncated/,
  );
  assert.throws(() => unpickle(new Uint8Array([0x80, 0x02, 0x2e]), "e.pth", noPid), /stack underflow/);
  // Values: LONG1, BINFLOAT (big-endian), nested tuple/dict.
  const ok = new Uint8Array([
    0x80,
    0x02,
    0x7d,
    0x28, // {  MARK
    0x58,
    1,
    0,
    0,
    0,
    0x61,
    0x8a,
    6,
    0,
    0,
    0,
    0,
    0x80,
    0, // 'a': LONG1 2^39
    0x58,
    1,
    0,
    0,
    0,
    0x62,
    0x47,
    0xc0,
    0x02,
    0,
    0,
    0,
    0,
    0,
    0, // 'b': -2.25
    0x58,
    1,
    0,
    0,
    0,
    0x63,
    0x4b,
    1,
    0x4d,
    2,
    1,
    0x86, // 'c': (1, 258)
    0x75,
    0x2e, // SETITEMS STOP
  ]);
  const v = unpickle(ok, "ok.pth", noPid) as Map<string, unknown>;
  assert.equal(v.get("a"), 2 ** 39);
  assert.equal(v.get("b"), -2.25);
  assert.deepEqual((v.get("c") as { items: unknown[] }).items, [1, 258]);
});
