// `npm pack` makes a package that installs and imports by its name.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function npmWorks() {
  try {
    execFileSync("npm", ["--version"], { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

test("npm pack gives an installable package", { skip: !npmWorks() && "npm not found" }, () => {
  const dir = tempDir();
  const npm = (args, cwd) =>
    execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, timeout: 60_000 }).toString();
  const tarball = npm(["pack", "--pack-destination", dir], root).trim().split("\n").pop();
  const contents = npm(["pack", "--dry-run", "--json"], root);
  const files = JSON.parse(contents)[0].files.map((f) => f.path).sort();
  assert.deepEqual(files, ["README.md", "kvws.d.ts", "kvws.js", "package.json"]);

  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  npm(["install", "--offline", path.join(dir, tarball)], dir);
  writeFileSync(
    path.join(dir, "check.js"),
    'import { connect, KvwsError, Client } from "kvws";\n' +
      'console.log(typeof connect, typeof Client, new KvwsError("conflict", "m", { rev: 3 }).rev);\n',
  );
  const out = execFileSync(process.execPath, ["check.js"], { cwd: dir, timeout: 10_000 }).toString();
  assert.equal(out.trim(), "function function 3");
});
