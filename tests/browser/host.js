// A minimal MCP Apps host for the browser tests, built on the official host bridge
// (@modelcontextprotocol/ext-apps/app-bridge) and the official MCP client. It connects to the
// server's /mcp with the bearer token from the query string, calls open_call_panel as a host
// does when the model calls it, reads the tool's ui:// resource, renders it in a sandboxed
// iframe (scripts only: no same-origin, no network of its own) and lets the bridge forward
// the panel's tools/call and resources/read to the server.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport, getToolUiResourceUri } from "@modelcontextprotocol/ext-apps/app-bridge";

const HOST = { name: "vapi-mcp-test-host", version: "1.0.0" };
const query = new URLSearchParams(location.search);
const args = query.get("call_id") ? { call_id: query.get("call_id") } : {};
const hostContext = {
  theme: query.get("theme") || "light",
  displayMode: "inline",
  styles: { variables: { "--font-sans": "DejaVu Sans, sans-serif" } },
};

async function main() {
  const client = new Client(HOST);
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", location.origin), {
    requestInit: { headers: { Authorization: `Bearer ${query.get("token")}` } },
  });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const tool = tools.find((t) => t.name === "open_call_panel");
  const uri = getToolUiResourceUri(tool);
  const resource = await client.readResource({ uri });
  const { text, mimeType } = resource.contents[0];
  document.body.dataset.mime = mimeType;
  const result = await client.callTool({ name: tool.name, arguments: args });
  document.getElementById("tool-text").textContent = result.content.map((b) => b.text || "").join("\n");

  const iframe = document.createElement("iframe");
  iframe.sandbox = "allow-scripts";
  iframe.title = "call panel";
  document.getElementById("app").appendChild(iframe);
  const bridge = new AppBridge(client, HOST, { serverTools: {}, serverResources: {}, logging: {} }, { hostContext });
  bridge.oninitialized = async () => {
    await bridge.sendToolInput({ arguments: args });
    await bridge.sendToolResult(result);
    document.body.dataset.panel = "initialized";
  };
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = text;
}

main().catch((error) => {
  document.body.dataset.error = String(error && error.stack ? error.stack : error);
  console.error(error);
});
