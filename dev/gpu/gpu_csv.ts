/**
 * gpu.csv, the table every dev/gpu tool appends to (columns model,check,batch,ok,value,detail and
 * the provenance of each row: commit, device, date;
 * dev/gpu/summary.ts reads it): rows are written one at a time, so a later crash keeps what was
 * measured, and printed as `ok|FAIL model check B=batch: value detail`.
 */

import { csvLine } from "../../engine/csv.ts";
import { gitCommit } from "../../engine/provenance.ts";

/** One gpu.csv row. */
export interface GpuCsvRow {
  model: string;
  check: string;
  batch: number;
  ok: boolean;
  value: string;
  detail: string;
}

/** The median of timings (the upper one of an even count): what every dev/gpu timing reports. */
export const median = (t: readonly number[]) =>
  [...t].sort((p, q) => p - q)[Math.floor(t.length / 2)];

/** Bytes as GiB with 2 decimals (the unit of every memory figure in gpu.csv). */
export const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

export const GPU_CSV_COLUMNS = "model,check,batch,ok,value,detail,commit,device,date";

/** The GPU as check.sh saw it (GPU_DEVICE), else nvidia-smi's answer, else "". */
function gpuDevice(): string {
  const env = Deno.env.get("GPU_DEVICE");
  if (env) return env;
  try {
    const o = new Deno.Command("nvidia-smi", {
      args: ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return o.success ? new TextDecoder().decode(o.stdout).trim().split("\n")[0] : "";
  } catch {
    return "";
  }
}

/** `--out`, else $OUT/gpu.csv, else dev/gpu/out/gpu.csv. */
export function gpuCsvPath(out: string): string {
  return out || `${Deno.env.get("OUT") || new URL("./out", import.meta.url).pathname}/gpu.csv`;
}

/** Appends rows to one gpu.csv (header when the file is new) and counts the rows not ok. */
export class GpuCsv {
  failed = 0;
  readonly commit = gitCommit();
  readonly device = gpuDevice();
  constructor(readonly path: string) {}

  record(r: GpuCsvRow): void {
    if (!r.ok) this.failed++;
    console.log(
      `${r.ok ? "ok  " : "FAIL"} ${r.model} ${r.check} B=${r.batch}: ${r.value} ${r.detail}`,
    );
    const line = csvLine([
      r.model,
      r.check,
      String(r.batch),
      String(r.ok),
      r.value,
      r.detail,
      this.commit,
      this.device,
      new Date().toISOString(),
    ]);
    Deno.mkdirSync(this.path.replace(/\/[^/]*$/, "") || ".", { recursive: true });
    let fresh = true;
    try {
      fresh = Deno.statSync(this.path).size === 0;
    } catch { /* new file */ }
    const head = fresh ? GPU_CSV_COLUMNS + "\n" : "";
    Deno.writeTextFileSync(this.path, head + line, { append: true });
  }
}

/** A positive number from a flag, or exit 2 naming the tool and the flag. */
export function positiveArg(tool: string, s: string, name: string): number {
  const v = Number(s);
  if (!(v > 0)) {
    console.error(`${tool}: --${name} must be a positive number: ${s}`);
    Deno.exit(2);
  }
  return v;
}
