/**
 * talos-enclave: constructs, spec, flow model and renderers for a highly separated Talos Kubernetes
 * lab on Proxmox VE, synthesized to OpenTofu modules and reviewed sidecar files.
 *
 * Start with {@link TalosEnclave} (the whole lab as one cdktf stack) and {@link LabSpecSchema} (what a
 * lab is made of); {@link referenceLab} is the default lab.
 *
 * @packageDocumentation
 */

// The lab and its parts (constructs)
export { TalosEnclave, TalosEnclaveProps, TalosEnclaveSummary, MODULE_ORDER } from "./talos-enclave";
export { ZoneModule, ModuleInputOptions, ModulePort, sidecarPathProblem } from "./zones/zone-module";
export { EdgeZone, EdgeZoneProps } from "./zones/edge-zone";
export { MgmtZone, DmzZone, UbuntuZone, UbuntuZoneProps, UbuntuHost } from "./zones/ubuntu-zone";
export { SrvZone, SrvZoneProps } from "./zones/srv-zone";
export { PlatformZone, PlatformZoneProps } from "./zones/platform-zone";
export { LabVm, LabVmProps } from "./proxmox/lab-vm";
export { NodeImages, NodeImagesProps } from "./proxmox/node-images";
export { PreparedNodes, PreparedNodesProps } from "./stack/prepared-nodes";
export { VmFirewall, VmFirewallProps } from "./proxmox/vm-firewall";
export { TalosCluster, TalosClusterProps } from "./talos/talos-cluster";
export { FactorySchematic, FactorySchematicProps } from "./talos/factory-schematic";
export { previewLabTree, synthLab, synthLabTree, SynthOptions, SynthPhase, SynthResult } from "./emit/synth-lab";
export { FileChange, treeChanges } from "./emit/tree-diff";
export { previewOutputTree, writeOutputTree, OutputWrite, SynthMarker, SYNTH_MARKER } from "./emit/output-tree";
export { HclJsonStack } from "./stack/hcl-json-stack";
export { ProxmoxIdentityBootstrap, ProxmoxIdentityBootstrapProps, proxmoxIdentityModule, PROXMOX_IDENTITY_MODULE } from "./stack/proxmox-identity";
export { proxmoxIdentityNeeds, PROXMOX_PRIVILEGE_FACTS, NON_PROXMOX_PROVIDERS, PrivilegeFact, PrivilegeScope, IdentityAcl, ProxmoxIdentityNeeds } from "./render/proxmox/proxmox-privileges";
export { escapeHclTemplate, hclExpression } from "./stack/hcl-text";
export { StateBackend, StateBackendProps } from "./state/state-backend";
export { ResolvedBackend, resolveBackend, defaultLocalStatePath, requiredTofuVersion } from "./model/backend";

// Policy: checks as a pack of aspects, run on the written files at every synth
export { PolicyPack, PolicyRule, PolicyFinding, PolicyReport, PolicyContext, ruleApplies, reportProblem, assertNoFindings } from "./checks/policy-pack";
export { PolicyHost } from "./checks/policy-host";
export { labPolicyPack } from "./checks/lab-policy-pack";
export { PFSENSE_FILE_RULE } from "./checks/pfsense-file-rule";
export { SEPARATION_RULE } from "./checks/separation-rule";
export { SECRETS_AT_REST_RULE } from "./checks/secrets-at-rest-rule";
export { TALOS_CONFIG_RULE } from "./checks/talos-config-rule";

// Policy: the separation invariants, judged on the written files
export { separationViolations, LabNetworks, SeparationViolation } from "./policy/separation-policy";
export { secretsAtRest, SecretAtRest } from "./policy/secrets-at-rest";
export { labNetworks, violationProblem } from "./policy/separation-check";
export { AddressSet } from "./policy/address-set";

// The spec
export { LabSpecSchema, LabSpec, LabSpecInput, ParsedLabSpec, VmSize, IngressProtection, HAPROXY_DENY_STATUSES, HostSpec, TalosNodeSpec, ZoneSpec, FlowSpec, HostRole, DiskEncryption, DiskEncryptionSchema } from "./input/lab-spec";
export { VM_KINDS, VmKind } from "./input/vm-kinds";
export { AddressRole, HostOffsetOf, DEFAULT_HOST_OFFSETS, DEFAULT_VIP_OFFSET, DEFAULT_GATEWAY_OFFSET, DEFAULT_DOMAIN_SUFFIX, defaultHostOffset } from "./input/defaults";
export { validateLabSpec, MINIMUM_SIZES, RESERVED_NAMES } from "./lab/validate";
export { SpecError, SpecProblem } from "./input/spec-error";
export { loadLabSpec } from "./lab/load";
export { labSpecJsonSchema } from "./input/json-schema";

// The model (pure)
export { LabModel, VmPlan, VmPlanBase, FirewallPlan, MemberPlan, HostPlan, TalosPlan, isMember, ZoneModel, NicPlan, ZoneName, ModuleName, VmRole, GuestOs, FIREWALL_NIC_ORDER } from "./model/lab-model";
export { buildLabModel, referenceLab } from "./lab/build";
export { Flow, FlowTable, Protocol, ResolvedEndpoint } from "./model/flows";
export { labFlows, componentFlows, labOwnFlows, runnerHost } from "./model/lab-flows";
export { ServiceDescriptor, ServiceCatalog, ServiceContext, ServiceFlow, ServiceUserData, ServiceVariable, MinimumSize, RESERVED_ROLES, RESERVED_VARIABLES, serviceDescriptorProblems } from "./model/service";
export { HostProvision, ProvisionFile, ProvisionSecret, PROVISION_SCRIPT, hostProvisionProblems, provisionFileEnv, provisionJumpHost } from "./model/host-provision";
export { NodePreparation, PREPARE_SCRIPT, FIREWALL_WAN_ADDRESS, nodePreparations, preparationHostsEntry } from "./model/proxmox-prepare";
export { FirewallInstaller, firewallInstaller } from "./model/firewall-installer";
export { FlowEndpoint, EndpointZone, EndpointGroup, parseEndpoint, endpointText } from "./model/endpoint";
export { hostFlowId } from "./model/lab-flows";

// Services (one descriptor each): the built-in ones, and what a new one builds on
export { BUILTIN_SERVICES, serviceCatalog, serviceUserData, ServiceUserDataBody, CLIENT_SERVICE, REGISTRY_SERVICE, INGRESS_SERVICE } from "./services";
export { applySteps, renderApplyStepsJson, ApplySteps, ApplyStep, StepConnection, StepPlace } from "./render/apply/apply-steps";

// Renderers (pure): firewall
export { pfSenseTables, PfSenseTables, PfRule, PfAlias, PfEndpoint, PfInterface, PfPortForward } from "./render/pfsense/pfsense-rule-table";
export { renderAliasesXml, renderFilterXml, renderNatXml, renderUnboundXml } from "./render/pfsense/pfsense-xml";
export { pfSenseFileProblems, PfSenseFiles } from "./policy/pfsense-checks";
export { renderFrrConf } from "./render/pfsense/frr-conf";
export { renderRulesMd } from "./render/pfsense/rules-md";
export { pfSenseSettings, renderPfSensePlayback, PfSenseSettings, PFSENSE_PLAYBACK, pfSenseHostOverrides, PfSenseHostOverride } from "./render/pfsense/pfsense-settings";
export { renderFlowsJson } from "./render/flows/flows-json";
export { proxmoxFirewallRules, proxmoxFirewallIpsets, proxmoxFirewall, outsideLabIpset, OUTSIDE_LAB_IPSET, ProxmoxFirewallRule, ProxmoxIpset, ProxmoxIpsetEntry } from "./render/proxmox/proxmox-firewall-rules";

// Renderers (pure): Talos
export { talosPatchFiles, nodePatchDocuments, TALOS_FILES } from "./render/talos/talos-patch-files";
export { TalosDocument, allNodesDocuments, diskEncryptionDocuments, ENCRYPTED_SYSTEM_VOLUMES, roleDocuments, nodeDocuments, mirroredRegistries, harborProxyProject } from "./render/talos/machine-documents";
export { talosFirewallRules, TalosFirewallRules } from "./render/talos/host-firewall";
export { talosConfigProblems, TalosConfigProblem } from "./policy/talos-config-checks";
export { renderSchematic, schematicId, SchematicSpec } from "./model/schematic";
export { renderUpgradeGuide } from "./render/talos/upgrade-guide";

// Renderers (pure): services and platform
export { renderUserData, renderHaproxyCfg, UserDataTemplate, MODULE_VARIABLES, SERVICE_VERSIONS, clientConfigPaths } from "./render/cloud-init";
export { platformChartFiles, tigeraOperatorValues, localCharts, LocalChart } from "./render/platform/platform-charts";
export { renderStackReadme } from "./render/readme/stack-readme";
