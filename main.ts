// kadapter: K-Adapter knowledge adapters on a frozen RoBERTa, on WebGPU.
// This file only runs the command line (src/cli/commands.ts) and turns errors into exit codes.
import { runCli } from "./src/cli/commands.ts";
import { UsageError } from "./src/cli/options.ts";
import { GpuError } from "./src/gpu/device.ts";
import { ProbeError } from "./src/tasks/lama_probe.ts";
import { RunError } from "./src/train/run.ts";
import { DivergedError } from "./src/train/loop.ts";
import { CheckpointError } from "./src/train/checkpoint.ts";
import { AdapterFolderError } from "./src/models/adapter_folder.ts";
import { DataError } from "./src/formats/schemas.ts";
import { ModelFolderError } from "./src/formats/hf_config.ts";
import { SafetensorsError } from "./src/formats/safetensors.ts";

try {
  Deno.exit(await runCli(Deno.args));
} catch (e) {
  if (e instanceof UsageError) {
    console.error(`kadapter: ${e.message}\nRun 'kadapter --help' for usage.`);
    Deno.exit(2);
  }
  // GPU problems (no adapter, device lost, out of memory) and file errors explain
  // themselves; anything else is a bug, and its stack helps the report.
  const known = e instanceof GpuError || e instanceof Deno.errors.NotFound ||
    e instanceof Deno.errors.PermissionDenied || e instanceof SyntaxError ||
    e instanceof ModelFolderError || e instanceof SafetensorsError || e instanceof DataError ||
    e instanceof DivergedError ||
    e instanceof CheckpointError || e instanceof AdapterFolderError || e instanceof RunError ||
    e instanceof ProbeError;
  console.error(`kadapter: ${known ? (e as Error).message : (e as Error).stack ?? e}`);
  Deno.exit(1);
}
