import { join } from 'node:path';
import { openSqliteMetadataStore } from '../../src/metadata/sql/sqlite.js';
import { tempDir } from '../helpers/berth-process.js';
import { metadataStoreSuite } from './metadata-store-suite.js';

metadataStoreSuite('sqlite', () => openSqliteMetadataStore(join(tempDir('sqlite'), 'metadata.db')));
