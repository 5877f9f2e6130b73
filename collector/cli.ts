#!/usr/bin/env node
/**
 * `collector`: the command line of The Collector. Each command lives in commands/; this file only
 * assembles them and turns errors into messages and exit codes (2: usage or configuration,
 * 1: the command failed, 3: a collector is already running).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../common/env.js';
import { AppError } from '../common/errors.js';
import { projectRoot } from '../common/paths.js';
import { registerPublisherKeys } from './commands/publisher-keys.js';
import { registerPublishers } from './commands/publishers.js';
import { registerSetup } from './commands/setup.js';
import { CliError } from './commands/shared.js';
import { registerStart } from './commands/start.js';
import { registerUser } from './commands/user.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8'));
  return pkg.version as string;
}

export function buildProgram(): Command {
  const program = new Command('collector')
    .description(
      'Aggregate many PostgreSQL publishers into one subscriber, served by GraphQL.\n(From the repository: npm run collector -- <command>)',
    )
    .version(version(), '-v, --version')
    .showHelpAfterError()
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Examples:
  collector start                              the whole collector on this machine (npm start)
  collector user create alice                  a gateway user; prints a generated password
  collector user set-password admin --password-stdin < password.txt
  collector user disable alice                 no more logins; her tokens stop working
  collector user delete alice --yes            her annotations stay, as "deleted user"
  collector user list --json                   every user: role, state, annotations
  collector setup                              wire real hosts (compose.yaml runs this)
  collector publisher-keys create shop         an API key for a publisher client; printed once
  collector publishers status --watch          each publisher's state, lag, rows and errors
  collector publishers resume pub2 --skip-failed-transaction
                                               restart a subscription stopped by a conflict

Run "collector <command> --help" for a command's options and environment variables.`,
  );
  registerStart(program);
  registerSetup(program);
  registerUser(program);
  registerPublisherKeys(program);
  registerPublishers(program);
  // Subcommands fail like the program: an unknown option is a usage error (exit code 2).
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().showHelpAfterError();
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

function fail(message: string, code: number): never {
  console.error(`collector: ${message}`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  // Output to a closed pipe (`npm start | head`, a parent that died) must not turn every later
  // log line into an uncaught EPIPE: ignore write errors on our own output.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const program = buildProgram();
  if (argv.length === 0) {
    program.outputHelp();
    return;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; commander has already printed the error and the help.
      process.exit(e.exitCode === 0 ? 0 : 2);
    }
    throw e;
  }
}

main(process.argv.slice(2)).catch((e) => {
  if (e instanceof CliError) fail(e.message, e.exitCode);
  if (e instanceof ConfigError) fail(e.message, 2);
  if (e instanceof AppError) fail(e.message, 1);
  fail(e instanceof Error ? e.message : String(e), 1);
});
