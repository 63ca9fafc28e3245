// Parses Microsoft Teams messages with the Adaptive Cards library (npm `adaptivecards`, the
// renderer Teams' own clients are built from) and reports every parse warning and validation
// event: an empty report means the card is read as written. The library's ES module build
// imports files without their extensions, which Node refuses, so its bundled build is loaded.
//
// Usage: node adaptive-card.cjs <message.json>...   (one JSON report per file on stdout)
const AC = require("adaptivecards/dist/adaptivecards.js");
const fs = require("node:fs");

for (const file of process.argv.slice(2)) {
  const message = JSON.parse(fs.readFileSync(file, "utf8"));
  const report = { file, cards: 0, events: [], validation: [] };
  for (const attachment of message.attachments ?? []) {
    if (attachment.contentType !== "application/vnd.microsoft.card.adaptive") {
      report.events.push(`attachment of type ${attachment.contentType}`);
      continue;
    }
    const context = new AC.SerializationContext();
    const card = new AC.AdaptiveCard();
    card.parse(attachment.content, context);
    report.cards += 1;
    report.version = card.version ? card.version.toString() : null;
    report.items = card.getItemCount();
    for (let i = 0; i < context.eventCount; i++) report.events.push(context.getEventAt(i).message);
    for (const v of card.validateProperties().validationEvents) report.validation.push(v.message);
  }
  process.stdout.write(JSON.stringify(report) + "\n");
}
