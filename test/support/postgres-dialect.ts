// Setup of the e2e-pg project (jest.config.js): its specs run on PostgreSQL (see ./database).
process.env.QUEUECTL_TEST_DIALECT = 'postgres';
