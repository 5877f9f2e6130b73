#!/usr/bin/env node
/**
 * Entry point of the GraphQL gateway, configured from the environment (compose.yaml, real hosts).
 * `npm start` runs the same gateway in-process against the embedded subscriber.
 */
import 'reflect-metadata';
import { runService } from '../common/service.js';
import { gatewayConfigFromEnv } from './config.js';
import { startGateway } from './start.js';

await runService('gateway', async () => startGateway(gatewayConfigFromEnv()));
