// Preloaded into a server under test (NODE_OPTIONS=--require): reports each synchronous file read
// that fails because the file is missing, one line on stderr a failure, so a test can see which
// files a server looks for again and again. It changes nothing the server reads.
const fs = require("node:fs");

const readFileSync = fs.readFileSync;
fs.readFileSync = function probedReadFileSync(file, ...rest) {
  try {
    return readFileSync.call(this, file, ...rest);
  } catch (error) {
    if (error && error.code === "ENOENT") process.stderr.write(`missing-file-probe: ${String(file)}\n`);
    throw error;
  }
};
