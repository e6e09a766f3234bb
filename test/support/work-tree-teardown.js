module.exports = require('./work-tree-guard').teardown;
