/**
 * `deno task reproduce`: the end-to-end pipeline (prepare data → parity → train → evaluate → score
 * → result tables). Not built yet: it lands with the scoring-and-reproduce issue, after the
 * operators, the recursion scaffold and the datasets. Until then it says so and exits non-zero, so
 * no script mistakes it for a finished run.
 */
console.error(
  "deno task reproduce: not yet available — the pipeline lands with the scoring-and-reproduce issue.\n" +
    "What works today: `deno task test` (engine tests), `deno task bench` (engine benchmark vs OpenBLAS\n" +
    "and PyTorch), `deno task build:native`. See README.md, section Status.",
);
Deno.exit(2);
