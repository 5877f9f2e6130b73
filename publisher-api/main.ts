#!/usr/bin/env node
/**
 * Entry point of one publisher's REST API, configured from the environment (compose.yaml, real
 * hosts). `npm start` runs the same app in-process for each embedded publisher.
 */
import { runService } from '../common/service.js';
import { publisherConfigFromEnv } from './config.js';
import { startPublisherApi } from './start.js';

await runService('publisher-api', async () => startPublisherApi(publisherConfigFromEnv()));
