import { join } from 'node:path';
import { openSqliteDatabase, openSqliteMetadataStore } from '../../src/metadata/sql/sqlite.js';
import { SqlMetadataStore } from '../../src/metadata/sql/sql-metadata-store.js';
import { SqlRepositoryMetadataStore } from '../../src/metadata/sql/sql-repository-metadata-store.js';
import { tempDir } from '../helpers/berth-process.js';
import { lockContractSuite } from './lock-suite.js';
import { metadataStoreSuite } from './metadata-store-suite.js';

metadataStoreSuite('sqlite', () => openSqliteMetadataStore(join(tempDir('sqlite'), 'metadata.db')));
lockContractSuite('sqlite', async () => {
  const db = await openSqliteDatabase(join(tempDir('sqlite-locks'), 'metadata.db'));
  return { store: new SqlMetadataStore(db), attributes: new SqlRepositoryMetadataStore(db) };
});
