#!/usr/bin/env node
// Checks a KQL query against the Log Analytics tables of tables.json with Microsoft's Kusto
// language service (npm @kusto/language-service-next, the parser and binder behind Kusto
// Explorer and the Azure portal's query editor). No Azure and no network: it proves that the
// query parses, that every table, column and function it names exists with a fitting type,
// and it runs the service's analyzers (warnings such as a join without a kind).
//
//   node tests/kql/check_kql.js [--tables FILE] [--columns] < query.kql
//   node tests/kql/check_kql.js [--tables FILE] --batch < queries.json
//
// stdout: a JSON list of diagnostics, each
//   {"severity", "code", "category", "message", "start", "length", "line", "column", "text",
//    "context", "source", "fails"}
// where start/length are offsets in the query (UTF-16 code units, as JavaScript counts them),
// line/column are 1-based, text is the query text at the position and context a few
// characters around it. With --columns stdout is instead one object:
//   {"diagnostics": [...], "columns": [{"name", "type"}, ...]}
// with the columns of the query's result as the service infers them (a union whose legs give
// a column two types shows it as NAME_string, NAME_dynamic, ... as Kusto would).
// With --batch stdin is a JSON list of query strings and stdout a JSON list with, for each,
// {"diagnostics": [...], "columns": [...], "fails": true|false}: one process for many
// queries (the service's first analysis costs about two seconds, later ones milliseconds).
//
// Exit status: 0 no failing diagnostic; 1 at least one failing diagnostic (in any query of a
// batch); 2 usage error (unknown option, no query on stdin, stdin a terminal, unreadable
// tables file, a batch that is not a non-empty JSON list of non-empty strings).
//
// Which diagnostics fail:
//   Error                    always (the service would reject the query).
//   Warning                  yes, unless its code is in ALLOWED_WARNINGS below: a warning
//                            means "runs, but possibly not as intended", which for a
//                            monitoring query is a bug until someone has looked at it.
//   Suggestion, Information,
//   Hidden                   printed, never fail (style hints, e.g. "prefer has over
//                            contains"; they do not change results).
//   A text that is not a query (a control command such as ".show tables") is an Error: the
//   Log Analytics query API runs queries only.
'use strict';

const fs = require('fs');
const path = require('path');

// Warning codes that do not fail, each with the reason. Empty on purpose: no warning seen on
// the queries of check_entra_noninteractive is harmless enough to wave through. Add a code
// only with a reason that holds for every query the product can send.
const ALLOWED_WARNINGS = {
  // 'KS000': 'why it cannot change what the query returns',
};

const NON_FAILING_SEVERITIES = new Set(['Suggestion', 'Information', 'Hidden']);

const USAGE = 'usage: node check_kql.js [--tables FILE] [--columns] < query.kql\n' +
              '       node check_kql.js [--tables FILE] --batch < queries.json\n';

function usage(message) {
  process.stderr.write('check_kql.js: ' + message + '\n' +
    USAGE);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { tables: path.join(__dirname, 'tables.json'), columns: false, batch: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--columns') {
      options.columns = true;
    } else if (arg === '--batch') {
      options.batch = true;
    } else if (arg === '--tables') {
      if (i + 1 >= argv.length) usage('--tables needs a file');
      options.tables = argv[++i];
    } else if (arg.startsWith('--tables=')) {
      options.tables = arg.slice('--tables='.length);
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else {
      usage('unknown argument ' + JSON.stringify(arg));
    }
  }
  return options;
}

function loadTables(file) {
  let data;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    usage('cannot read tables file ' + file + ': ' + error.message);
  }
  const tables = {};
  for (const [name, columns] of Object.entries(data)) {
    if (name.startsWith('_')) continue; // "_source" and other notes
    if (!columns || typeof columns !== 'object' || Array.isArray(columns)) {
      usage('tables file ' + file + ': ' + name + ' is not an object of column: type');
    }
    for (const [column, type] of Object.entries(columns)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(column) || !/^[a-z]+$/.test(String(type))) {
        usage('tables file ' + file + ': bad column ' + JSON.stringify(column) + ': ' +
              JSON.stringify(type) + ' in ' + name);
      }
    }
    tables[name] = columns;
  }
  if (Object.keys(tables).length === 0) usage('tables file ' + file + ' declares no table');
  return tables;
}

function readStdin() {
  // Read with the stream API: fs.readFileSync(0) fails with EAGAIN when stdin is a
  // non-blocking pipe.
  if (process.stdin.isTTY) usage('the query is read from stdin, which is a terminal');
  return new Promise((resolve) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('error', (error) => usage('cannot read stdin: ' + error.message));
    process.stdin.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') usage('no query on stdin');
      resolve(text);
    });
  });
}

function loadKusto() {
  // The package is a Bridge.NET build: bridge.js defines the runtime, the second file the
  // Kusto.Language namespace, both as globals.
  require('@kusto/language-service-next/bridge.min.js');
  require('@kusto/language-service-next/Kusto.Language.Bridge.min.js');
  return global.Kusto.Language;
}

function list(readOnlyList) {
  const items = [];
  if (!readOnlyList) return items;
  for (let i = 0; i < readOnlyList.Count; i++) items.push(readOnlyList.getItem(i));
  return items;
}

function globalsFor(K, tables) {
  const symbols = Object.entries(tables).map(([name, columns]) => {
    const schema = '(' + Object.entries(columns).map(([c, t]) => c + ':' + t).join(', ') + ')';
    const table = K.Symbols.TableSymbol.From(schema);
    if (!table) usage('the language service rejected the schema of ' + name);
    return table.WithName(name);
  });
  // A Log Analytics workspace is the default database of its queries.
  const database = new K.Symbols.DatabaseSymbol.ctor('workspace', symbols);
  return K.GlobalState.Default.WithDatabase(database);
}

function lineAndColumn(text, offset) {
  const before = text.slice(0, offset).split('\n');
  return [before.length, before[before.length - 1].length + 1];
}

function describe(text, diagnostic, source) {
  const start = diagnostic.HasLocation ? diagnostic.Start : 0;
  const length = diagnostic.HasLocation ? diagnostic.Length : 0;
  const [line, column] = lineAndColumn(text, start);
  const severity = diagnostic.Severity;
  const fails = severity === 'Error' ||
    (severity === 'Warning' && !(diagnostic.Code in ALLOWED_WARNINGS)) ||
    (!NON_FAILING_SEVERITIES.has(severity) && severity !== 'Warning');
  return {
    severity,
    code: diagnostic.Code,
    category: diagnostic.Category,
    message: diagnostic.Message,
    start,
    length,
    line,
    column,
    text: text.substr(start, length),
    context: text.slice(Math.max(0, start - 30), start + length + 30),
    source,
    fails,
  };
}

function check(K, globals, text) {
  // A control command (".show tables") is no query: say so without analysing it (the
  // command grammar alone costs seconds to load).
  const kind = K.KustoCode.GetKind(text);
  if (kind !== 'Query') {
    return {
      diagnostics: [{
        severity: 'Error', code: 'NOT_A_QUERY', category: 'General',
        message: 'The text is a ' + kind + ', not a query: the Log Analytics query API runs queries only.',
        start: 0, length: 0, line: 1, column: 1, text: '', context: text.slice(0, 60),
        source: 'check_kql.js', fails: true,
      }],
      columns: [],
    };
  }
  const code = K.KustoCode.ParseAndAnalyze(text, globals);
  const diagnostics = list(code.GetDiagnostics()).map((d) => describe(text, d, 'analysis'));
  const service = new K.Editor.KustoCodeService.ctor(code);
  for (const d of list(service.GetAnalyzerDiagnostics(true))) {
    diagnostics.push(describe(text, d, 'analyzer'));
  }
  const columns = [];
  const result = code.ResultType;
  if (result && result.Columns) {
    for (const column of list(result.Columns)) {
      columns.push({ name: column.Name, type: column.Type ? column.Type.Name : null });
    }
  }
  diagnostics.sort((a, b) => a.start - b.start);
  return { diagnostics, columns };
}

function parseBatch(text) {
  let queries;
  try {
    queries = JSON.parse(text);
  } catch (error) {
    usage('--batch: stdin is not JSON: ' + error.message);
  }
  if (!Array.isArray(queries) || queries.length === 0 ||
      !queries.every((q) => typeof q === 'string' && q.trim() !== '')) {
    usage('--batch: stdin must be a non-empty JSON list of non-empty query strings');
  }
  return queries;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const tables = loadTables(options.tables);
  const text = await readStdin();
  const queries = options.batch ? parseBatch(text) : [text];
  const K = loadKusto();
  const globals = globalsFor(K, tables);
  const results = queries.map((query) => {
    const { diagnostics, columns } = check(K, globals, query);
    return { diagnostics, columns, fails: diagnostics.some((d) => d.fails) };
  });
  let output;
  if (options.batch) {
    output = results;
  } else {
    output = options.columns ? { diagnostics: results[0].diagnostics, columns: results[0].columns }
      : results[0].diagnostics;
  }
  process.stdout.write(JSON.stringify(output, null, 2) + '\n');
  process.exitCode = results.some((r) => r.fails) ? 1 : 0;
}

main().catch((error) => {
  process.stderr.write('check_kql.js: internal error: ' + (error && error.stack || error) + '\n');
  process.exit(3);
});
