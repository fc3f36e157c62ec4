// GraphiQL through the UI: load the page, type a bearer header into the headers editor,
// type a query, run it, read the result; then reload and look for the header in storage.
// Usage: node graphiql.mjs <server url> <bearer token> <screenshot path> <fresh profile dir>
import { openBrowser, report } from "./browser.mjs";

const [server, token, screenshot, profile] = process.argv.slice(2);
const QUERY = "query Me { me { username accessType } }";

const { context, page, record } = await openBrowser(profile);
const result = { ...record };
try {
  await page.goto(`${server}/graphql`, { waitUntil: "load" });
  await page.waitForSelector(".graphiql-query-editor .CodeMirror");
  result.title = await page.title();

  // the query: select all in the query editor, then type over it
  await page.click(".graphiql-query-editor .CodeMirror");
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(QUERY);

  // the header: open the Headers tab and type into its editor
  await page.getByRole("button", { name: "Headers" }).click();
  const headers = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror");
  await headers.click();
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));

  await page.click(".graphiql-execute-button");
  const output = page.locator(".graphiql-response .CodeMirror");
  await page.waitForFunction(
    () => document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue().includes('"data"'),
    null,
    { timeout: 15000 },
  );
  result.response = JSON.parse(await output.evaluate((node) => node.CodeMirror.getValue()));
  result.typedHeaders = await headers.evaluate((node) => node.CodeMirror.getValue());
  await page.screenshot({ path: screenshot, fullPage: true });

  // shouldPersistHeaders false: the token is in no storage, and gone after a reload
  result.storageBeforeReload = await page.evaluate(() => JSON.stringify(localStorage));
  await page.reload({ waitUntil: "load" });
  await page.waitForSelector(".graphiql-query-editor .CodeMirror");
  result.storageAfterReload = await page.evaluate(() => JSON.stringify(localStorage));
  await page.getByRole("button", { name: "Headers" }).click();
  result.headersAfterReload = await page
    .locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
    .evaluate((node) => node.CodeMirror.getValue());
} catch (error) {
  result.failure = String(error && error.stack ? error.stack : error);
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
} finally {
  await context.close();
}
report(result);
