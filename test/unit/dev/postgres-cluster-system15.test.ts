import { describeClusterBehaviour } from './cluster-behaviour.js';

describeClusterBehaviour('system15', 15);
