import { describeClusterBehaviour } from './cluster-behaviour.js';

describeClusterBehaviour('embedded18', 18);
