// The `wharf` command line.
import { Command } from 'commander';
import { ConfigError, CONFIG_FIELDS, loadConfig } from '../config/config.ts';
import { createWharf } from '../main.ts';

const program = new Command();
program.name('wharf').description('Wharf container image registry').version('0.1.0');

program
  .command('serve')
  .description('serve the registry (OCI distribution API under /v2)')
  .option('-c, --config <file>', 'YAML configuration file (also WHARF_CONFIG)')
  .action(async (opts: { config?: string }) => {
    let cfg;
    try {
      cfg = loadConfig(process.env, opts.config);
    } catch (e) {
      if (e instanceof ConfigError) {
        console.error(`wharf: ${e.message}`);
        process.exit(2);
      }
      throw e;
    }
    const wharf = await createWharf(cfg);
    const { host, port } = await wharf.listen();
    wharf.logger.info('wharf listening', { addr: `${host}:${port}`, dataDir: cfg.dataDir, database: cfg.databaseUrl.replace(/\/\/[^@/]*@/, '//***@') });
    let stopping = false;
    const stop = async (sig: string) => {
      if (stopping) return;
      stopping = true;
      wharf.logger.info('shutting down', { signal: sig });
      await wharf.close();
      process.exit(0);
    };
    process.on('SIGTERM', () => void stop('SIGTERM'));
    process.on('SIGINT', () => void stop('SIGINT'));
  });

program
  .command('config')
  .description('print the configuration keys (env and YAML) with their current values')
  .action(() => {
    const cfg = loadConfig();
    for (const f of CONFIG_FIELDS) console.log(`${f.env.padEnd(32)} ${f.yaml.padEnd(22)} ${String(cfg[f.key]).padEnd(30)} ${f.description}`);
  });

await program.parseAsync(process.argv);
