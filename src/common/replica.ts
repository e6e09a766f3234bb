import { hostname } from 'node:os';

/**
 * This service process among the replicas of one queue: its host and pid. In a container the host
 * name is the container's own, so replicas on one machine or in one Compose project differ.
 */
export const REPLICA = `${hostname()}:${process.pid}`;
