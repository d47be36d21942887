// User errors print as one paragraph, bugs with their stack: every error class a user can
// cause is a UserError, and a programming error inside the tensor layer is not.
import assert from "node:assert/strict";
import { UsageError } from "../src/cli/options.ts";
import { errorText, UserError } from "../src/errors.ts";
import { ModelFolderError } from "../src/formats/hf_config.ts";
import { PickleError } from "../src/formats/pickle.ts";
import { SafetensorsError } from "../src/formats/safetensors.ts";
import { DataError } from "../src/formats/schemas.ts";
import { StateError } from "../src/formats/state.ts";
import { TorchBinError } from "../src/formats/torch_bin.ts";
import { ZipError } from "../src/formats/zip.ts";
import { GpuError, initGpu } from "../src/gpu/device.ts";
import { AdapterFolderError } from "../src/models/adapter_folder.ts";
import { ModelFitError } from "../src/models/fit.ts";
import { ProbeError } from "../src/tasks/probe_error.ts";
import { CheckpointError } from "../src/train/checkpoint.ts";
import { DivergedError } from "../src/train/loop.ts";
import { RunError } from "../src/train/run.ts";
import { matmul, Tensor, tidy } from "../src/tensor/mod.ts";

Deno.test("errors: every user-facing error class is a UserError and prints its message only", () => {
  const made = [
    new UsageError("u"),
    new GpuError("g"),
    new ModelFolderError("dir", ["p"]),
    new SafetensorsError("s"),
    new DataError("f", "row 1", "x", "bad", "detail"),
    new StateError("f", ["p"]),
    new PickleError("p"),
    new TorchBinError("t"),
    new ZipError("z"),
    new AdapterFolderError("dir", ["p"]),
    new ModelFitError("m"),
    new ProbeError("p"),
    new CheckpointError("dir", "c"),
    new DivergedError("d"),
    new RunError("r"),
  ];
  for (const e of made) {
    assert.ok(e instanceof UserError, e.constructor.name);
    assert.equal(e.name, e.constructor.name);
    assert.equal(errorText(e), e.message);
    assert.doesNotMatch(errorText(e), /\n\s+at /);
  }
  assert.equal(errorText(new Deno.errors.NotFound("no such file")), "no such file");
});

Deno.test("errors: a shape bug inside the tensor layer prints with its stack", async () => {
  await initGpu();
  let caught: unknown = null;
  const a = Tensor.from(new Float32Array(6), [2, 3]), b = Tensor.from(new Float32Array(8), [4, 2]);
  try {
    tidy(() => matmul(a, b));
  } catch (e) {
    caught = e;
  } finally {
    a.dispose();
    b.dispose();
  }
  assert.ok(caught instanceof Error && !(caught instanceof UserError), `${caught}`);
  assert.match(errorText(caught), /\n\s+at /);
});
