// run_with_secrets through the official MCP TypeScript SDK: the SDK's
// Client over a stdio transport that also keeps every byte the server
// wrote, so the Go test can check the raw stream, not only what the SDK
// parsed. Prints one JSON object; writes the raw bytes to RAW_OUT.
//
// Env: VSECURE_BIN, VSECURE_API_URL, VSECURE_API_KEY, ALLOW (command
// path), SECRET_URI.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";

// RecordingTransport is StdioClientTransport's job done with the SDK's own
// framing (ReadBuffer, serializeMessage), keeping the raw stdout.
class RecordingTransport {
  constructor(command, args, env) {
    this.command = command;
    this.args = args;
    this.env = env;
    this.raw = [];
    this.buffer = new ReadBuffer();
  }
  async start() {
    this.child = spawn(this.command, this.args, { env: this.env, stdio: ["pipe", "pipe", "inherit"] });
    this.child.on("error", (e) => this.onerror?.(e));
    this.child.on("close", () => this.onclose?.());
    this.child.stdout.on("data", (chunk) => {
      this.raw.push(chunk);
      this.buffer.append(chunk);
      for (let m; (m = this.buffer.readMessage()) !== null; ) this.onmessage?.(m);
    });
  }
  async send(message) {
    this.child.stdin.write(serializeMessage(message));
  }
  async close() {
    this.child.stdin.end();
    await new Promise((resolve) => (this.child.exitCode !== null ? resolve() : this.child.on("close", resolve)));
  }
}

const env = process.env;
const transport = new RecordingTransport(env.VSECURE_BIN, ["mcp", "serve", "--allow-command", env.ALLOW], {
  VSECURE_API_URL: env.VSECURE_API_URL, VSECURE_API_KEY: env.VSECURE_API_KEY, PATH: env.PATH ?? "",
});
const client = new Client({ name: "vsecure-ts-run", version: "1.0.0" });
await client.connect(transport);

const tools = await client.listTools();
const run = await client.callTool({
  name: "run_with_secrets",
  arguments: {
    command: env.ALLOW,
    args: ["-c", 'echo "$DATABASE_URL"; echo "$DATABASE_URL" | base64; printf %s "$DATABASE_URL" | od -An -tx1 | tr -d " \\n"; echo; exit 5'],
    env: { DATABASE_URL: env.SECRET_URI },
    reason: "ts run e2e",
  },
});
await client.close();
writeFileSync(env.RAW_OUT, Buffer.concat(transport.raw));

const runTool = tools.tools.find((t) => t.name === "run_with_secrets");
console.log(JSON.stringify({
  instructions: client.getInstructions(),
  description: runTool?.description ?? null,
  isError: run.isError ?? false,
  structured: run.structuredContent,
  content: run.content,
}));
