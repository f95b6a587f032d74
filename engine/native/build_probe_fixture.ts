/** Child process of build_test.ts: tries to create the cpu backend and reports what happened. */
import { createCpuBackend } from "../backends/cpu/mod.ts";
import { getBackend } from "../backends/mod.ts";

let errorName = "", message = "";
try {
  createCpuBackend();
} catch (e) {
  errorName = (e as Error).name;
  message = (e as Error).message;
}
console.log(JSON.stringify({ errorName, message, autoBackend: getBackend("auto").name }));
