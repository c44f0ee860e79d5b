import { FilesystemBlobStore } from '../../src/storage/filesystem/fs-blob-store.js';
import { tempDir } from '../helpers/berth-process.js';
import { blobStoreSuite } from './blob-store-suite.js';

blobStoreSuite('filesystem', async () => {
  const store = new FilesystemBlobStore(tempDir('fs-store'));
  await store.init();
  return store;
});
