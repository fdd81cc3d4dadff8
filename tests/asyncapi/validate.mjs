// Parse an AsyncAPI document with the official parser (and its Avro schema parser, so the Avro
// payloads are parsed too); print one JSON object: the diagnostics, and what the document has.
// Usage: node validate.mjs DOCUMENT.json   (exit 0 when there is no error-level diagnostic)
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";
import { AvroSchemaParser } from "@asyncapi/avro-schema-parser";

const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
const text = await readFile(process.argv[2], "utf8");
const { document, diagnostics } = await parser.parse(text);
const errors = diagnostics.filter((d) => d.severity === 0);
const found = document
  ? {
      version: document.version(),
      channels: document.channels().all().map((c) => ({
        id: c.id(),
        address: c.address(),
        messages: c.messages().all().map((m) => m.id()),
      })),
      operations: document.operations().all().map((o) => `${o.action()} ${o.channels().all().map((c) => c.address()).join(",")}`),
      avroPayloads: document
        .allMessages()
        .all()
        .filter((m) => m.hasPayload() && String(m.payload().schemaFormat()).includes("avro")).length,
    }
  : null;
console.log(
  JSON.stringify({
    errors: errors.map((d) => ({ code: d.code, message: d.message, path: d.path })),
    warnings: diagnostics.filter((d) => d.severity === 1).length,
    document: found,
  }),
);
process.exit(errors.length || !document ? 1 : 0);
