import process from 'node:process';
import type { Io } from '../context.js';
import { main } from './main.js';

const io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
process.exitCode = await main(process.argv.slice(2), io, process.env);
