// `wharf vercmp <scheme> A B`: compare two versions the way the vulnerability matcher does, and
// print "<", "=" or ">" (exit 0). `wharf vercmp <scheme> - -` reads "A<TAB>B" lines from stdin and
// prints one operator per line; a pair that cannot be compared prints "!" on stdout (so the output
// stays line-aligned with the input) and "wharf vercmp: line N: <message>" on stderr, and the
// command exits 1 at the end. Empty lines and lines starting with "#" are skipped (no output).
// A version that cannot be parsed in single mode: the message on stderr, exit 1. An unknown
// scheme: exit 2.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { compareVersions, hasScheme, SCHEMES } from '../scanner/version/index.ts';

const OP = { '-1': '<', '0': '=', '1': '>' } as const;

function fail(msg: string, code: number): never {
  console.error(`wharf vercmp: ${msg}`);
  process.exit(code);
}

export function registerVercmpCommand(program: Command): void {
  program
    .command('vercmp')
    .description(`compare two versions under a scheme (${SCHEMES.join(', ')}); prints <, = or >. With "-" for both versions, compares the tab-separated pairs read from stdin, one result per line`)
    .argument('<scheme>', `version scheme: ${SCHEMES.join(' | ')}`)
    .argument('<a>', 'first version, or - to read pairs from stdin')
    .argument('<b>', 'second version, or - to read pairs from stdin')
    .action(async (scheme: string, a: string, b: string) => {
      if (!hasScheme(scheme)) fail(`unknown version scheme "${scheme}" (known: ${SCHEMES.join(', ')})`, 2);
      if (a === '-' && b === '-') {
        let failed = 0;
        let n = 0;
        const out: string[] = [];
        const flush = () => {
          if (out.length) process.stdout.write(out.join('\n') + '\n');
          out.length = 0;
        };
        for await (const raw of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
          n++;
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (line.trim() === '' || line.startsWith('#')) continue;
          const parts = line.split('\t');
          try {
            if (parts.length !== 2) throw new Error(`expected two tab-separated versions, got ${parts.length} field(s)`);
            out.push(OP[String(compareVersions(scheme, parts[0]!, parts[1]!)) as keyof typeof OP]);
          } catch (e) {
            failed++;
            out.push('!');
            flush();
            console.error(`wharf vercmp: line ${n}: ${(e as Error).message}`);
          }
          if (out.length >= 4096) flush();
        }
        flush();
        if (failed > 0) process.exitCode = 1;
        return;
      }
      if (a === '-' || b === '-') fail('use "-" for both versions to read pairs from stdin', 2);
      try {
        console.log(OP[String(compareVersions(scheme, a, b)) as keyof typeof OP]);
      } catch (e) {
        fail((e as Error).message, 1);
      }
    });
}
