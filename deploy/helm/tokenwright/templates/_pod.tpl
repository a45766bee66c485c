{{/*
tokenwright.pod is the pod template both workloads share (the StatefulSet
for bolt, the Deployment for etcd). $dataVolume is the volume of the data
directory, named "data" (a claim, or an emptyDir).
*/}}
{{- define "tokenwright.pod" -}}
metadata:
  labels:
    {{- include "tokenwright.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A changed configuration rolls the pods (it is read at start).
    checksum/config: {{ include "tokenwright.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "tokenwright.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    # The image's nonroot user (distroless); fsGroup makes the data volume
    # and the mounted Secrets readable and writable by it.
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    fsGroup: 65532
    fsGroupChangePolicy: OnRootMismatch
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: tokenwright
      image: {{ include "tokenwright.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [serve, --config, /etc/tokenwright/config/tokenwright.yaml]
      env:
        # The image sets these, and the environment wins over the file.
        - name: TOKENWRIGHT_LISTEN
          value: {{ printf "0.0.0.0:%d" (int .Values.ports.http) | quote }}
        - name: TOKENWRIGHT_DATA
          value: {{ include "tokenwright.dataDir" . }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: api
          containerPort: {{ .Values.ports.http }}
          protocol: TCP
        - name: health
          containerPort: {{ .Values.ports.health }}
          protocol: TCP
        {{- if .Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ .Values.ports.metrics }}
          protocol: TCP
        {{- end }}
      # The probes use the plain-HTTP health listener (healthListen), which
      # serves only /healthz and /readyz, with or without TLS on the API.
      # /healthz: the process serves (startup, liveness). /readyz: it can issue
      # tokens (a signing key, a usable store; with etcd, contact with a
      # quorum within etcd.maxStaleness).
      startupProbe:
        httpGet:
          path: /healthz
          port: health
        periodSeconds: {{ .Values.probes.startup.periodSeconds }}
        failureThreshold: {{ .Values.probes.startup.failureThreshold }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: health
        periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: health
        periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities:
          drop: [ALL]
        seccompProfile:
          type: RuntimeDefault
      {{- with .Values.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /etc/tokenwright/config
          readOnly: true
        - name: data
          mountPath: {{ include "tokenwright.dataMount" . }}
        - name: tmp
          mountPath: /tmp
        {{- if .Values.kek.existingSecret }}
        - name: kek
          mountPath: /etc/tokenwright/kek
          readOnly: true
        {{- end }}
        {{- if .Values.tls.existingSecret }}
        - name: tls
          mountPath: /etc/tokenwright/tls
          readOnly: true
        {{- end }}
        {{- if and (eq .Values.store.backend "etcd") .Values.store.etcd.tls.existingSecret }}
        - name: etcd-tls
          mountPath: /etc/tokenwright/etcd-tls
          readOnly: true
        {{- end }}
        {{- if .Values.metrics.bearerToken.existingSecret }}
        - name: metrics-token
          mountPath: /etc/tokenwright/metrics-token
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "tokenwright.fullname" . }}
    {{- if eq .Values.store.backend "etcd" }}
    # With etcd the data directory holds only the bootstrap admin token.
    - name: data
      emptyDir: {}
    {{- else if not .Values.persistence.enabled }}
    - name: data
      emptyDir: {}
    {{- else if .Values.persistence.existingClaim }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ .Values.persistence.existingClaim }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- if .Values.kek.existingSecret }}
    - name: kek
      secret:
        secretName: {{ .Values.kek.existingSecret }}
        defaultMode: 0440
        items:
          - key: {{ .Values.kek.key }}
            path: {{ .Values.kek.key }}
    {{- end }}
    {{- if .Values.tls.existingSecret }}
    - name: tls
      secret:
        secretName: {{ .Values.tls.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if and (eq .Values.store.backend "etcd") .Values.store.etcd.tls.existingSecret }}
    - name: etcd-tls
      secret:
        secretName: {{ .Values.store.etcd.tls.existingSecret }}
        defaultMode: 0440
    {{- end }}
    {{- if .Values.metrics.bearerToken.existingSecret }}
    - name: metrics-token
      secret:
        secretName: {{ .Values.metrics.bearerToken.existingSecret }}
        defaultMode: 0440
        items:
          - key: {{ .Values.metrics.bearerToken.key }}
            path: {{ .Values.metrics.bearerToken.key }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
