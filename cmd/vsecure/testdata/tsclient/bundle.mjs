// The Claude Desktop path, end to end: unpack the .mcpb with the mcpb
// library Claude Desktop's extension support is published as, resolve the
// manifest's mcp_config for this platform with user_config filled in (the
// library's getMcpConfigForManifest: ${__dirname}, ${user_config.*},
// platform_overrides), spawn exactly that with the official TypeScript MCP
// SDK client, list tools and read one ungated secret. Prints one JSON object.
//
// Env: MCPB_LIB (path of @anthropic-ai/mcpb's dist/index.js), MCPB_FILE,
// UNPACK_DIR, BUNDLE_API_URL, BUNDLE_API_KEY (what the user enters), UNGATED_URI.
import { readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const env = process.env;
const mcpb = await import(pathToFileURL(env.MCPB_LIB).href);
// The library logs on stdout; stdout is this script's result.
const log = console.log;
console.log = console.error;
const unpacked = await mcpb.unpackExtension({ mcpbPath: env.MCPB_FILE, outputDir: env.UNPACK_DIR });
console.log = log;
if (!unpacked) throw new Error("mcpb unpack failed");
const manifest = JSON.parse(readFileSync(join(env.UNPACK_DIR, "manifest.json"), "utf8"));
const config = await mcpb.getMcpConfigForManifest({
  manifest,
  extensionPath: env.UNPACK_DIR,
  systemDirs: {},
  userConfig: { api_url: env.BUNDLE_API_URL, api_key: env.BUNDLE_API_KEY },
  pathSeparator: sep,
});
if (!config) throw new Error("getMcpConfigForManifest: no config (required user_config missing?)");

// Only the resolved config reaches the server: no VSECURE_* from this
// process's environment (the SDK adds its default PATH, HOME, ...).
const transport = new StdioClientTransport({ command: config.command, args: config.args, env: config.env, stderr: "inherit" });
const client = new Client({ name: "vsecure-mcpb-e2e", version: "1.0.0" });
const started = performance.now();
await client.connect(transport);
const initializeMs = performance.now() - started;
const tools = await client.listTools();
const res = await client.callTool({ name: "read_secret", arguments: { uri: env.UNGATED_URI, reason: "mcpb e2e" } });
await client.close();

console.log(JSON.stringify({
  command: config.command,
  args: config.args,
  envKeys: Object.keys(config.env ?? {}).sort(),
  server: client.getServerVersion(),
  tools: tools.tools.map((t) => t.name),
  read: { isError: res.isError ?? false, structured: res.structuredContent },
  initializeMs,
}));
