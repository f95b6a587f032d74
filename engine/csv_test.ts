import assert from "node:assert/strict";
import { csvHeader, csvLine, csvText, parseCsv } from "./csv.ts";

Deno.test("csv: lines and texts quote what needs it; numbers in shortest form", async () => {
  assert.equal(
    csvLine([1, 0.1, "a,b", 'say "hi"', null, NaN, true]),
    '1,0.1,"a,b","say ""hi""",,NaN,true\n',
  );
  assert.equal(await csvText(["x", "y"], [{ x: "p\nq", y: 2 }]), 'x,y\n"p\nq",2\n');
  assert.equal(csvLine([{ a: 1 } as never]), '"{""a"":1}"\n');
  await assert.rejects(async () => await csvText(["x"], [{ y: 1 }]), /missing \[x\], extra \[y\]/);
});

Deno.test("csv: parse round-trips, checks the header and row widths, names the source", () => {
  const text = "a,b\n" + csvLine(["1", "x,y"]) + csvLine(["2", 'q"r']);
  const rows = parseCsv(text, ["a", "b"], "t.csv");
  assert.deepEqual(rows.map((r) => [r.a, r.b, r.line]), [["1", "x,y", 2], ["2", 'q"r', 3]]);
  assert.throws(() => parseCsv(text, ["a", "c"], "t.csv"), /t\.csv: header must be a,c: got a,b/);
  assert.throws(() => parseCsv("a,b\n1,2,3\n", ["a", "b"], "u.csv"), /u\.csv/);
  assert.throws(() => parseCsv("", ["a"], "e.csv"), /e\.csv: empty file/);
  assert.throws(() => parseCsv('a\n"open\n', ["a"], "m.csv"), SyntaxError);
  assert.deepEqual(csvHeader(text), ["a", "b"]);
  assert.equal(csvHeader(""), null);
});
