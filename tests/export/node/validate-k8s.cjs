// validate-k8s FILE...: every document of each YAML stream is checked
// against the Kubernetes OpenAPI schemas (kubernetes-models); prints one
// line per object, exits 1 on the first invalid one.
const fs = require('fs');
const yaml = require('js-yaml');
const groups = {
  'v1': require('kubernetes-models/v1'),
  'apps/v1': require('kubernetes-models/apps/v1'),
  'batch/v1': require('kubernetes-models/batch/v1'),
  'rbac.authorization.k8s.io/v1': require('kubernetes-models/rbac.authorization.k8s.io/v1'),
};
let n = 0, bad = 0;
for (const f of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(f, 'utf8'))) {
    if (doc === null) continue;
    const g = groups[doc.apiVersion];
    const K = g && g[doc.kind];
    if (!K) { console.log(`FAIL ${f}: unknown ${doc.apiVersion} ${doc.kind}`); bad++; continue; }
    try { new K(doc).validate(); n++; console.log(`ok ${doc.kind}/${doc.metadata.name}`); }
    catch (e) { bad++; console.log(`FAIL ${f}: ${doc.kind}/${doc.metadata && doc.metadata.name}: ${e.message}`); }
  }
}
console.log(`${n} valid, ${bad} invalid`);
process.exit(bad || n === 0 ? 1 : 0);
