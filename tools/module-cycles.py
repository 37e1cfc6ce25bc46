#!/usr/bin/env python3
"""Prints the cycles in a Rust crate's module import graph: tools/module-cycles.py crates/confab-core/src

Reads `crate::…` and `super::…` paths outside comments and test modules; a
cycle is a set of modules that import each other round. Used to check the
renovation rule that the core has none (ARCHITECTURE.md, Invariants)."""
import re,os,sys,itertools
root=sys.argv[1]; prefix=sys.argv[2] if len(sys.argv)>2 else ''
mods={}
for dp,dn,fn in os.walk(root):
    for f in fn:
        if not f.endswith('.rs'): continue
        p=os.path.join(dp,f); rel=os.path.relpath(p,root)[:-3]
        name=rel.replace('/mod','').replace('/','::')
        if name in ('lib','main'): continue
        s=open(p).read()
        # strip tests module
        s=s.split('#[cfg(test)]')[0]
        s='\n'.join(l for l in s.split('\n') if not l.strip().startswith('//'))
        deps=set()
        for m in re.finditer(r'crate::(\w+)(?:::(\w+))?',s):
            a=m.group(1)
            cand=a
            if m.group(2) and os.path.exists(os.path.join(root,a,m.group(2)+'.rs')): cand=a+'::'+m.group(2)
            if cand!=name and not name.startswith(cand+'::'): deps.add(cand)
        for m in re.finditer(r'crate::\{([^}]*)\}',s):
            for item in m.group(1).split(','):
                a=item.strip().split('::')[0]
                if a and a!=name: deps.add(a)
        for m in re.finditer(r'super::(\w+)',s):
            parent='::'.join(name.split('::')[:-1])
            cand=(parent+'::' if parent else '')+m.group(1)
            if cand!=name: deps.add(cand)
        mods[name]=deps
# find cycles via Tarjan
idx={};low={};st=[];on=set();res=[];i=[0]
def sc(v):
    idx[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
    for w in mods.get(v,()):
        if w not in mods: continue
        if w not in idx: sc(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],idx[w])
    if low[v]==idx[v]:
        comp=[]
        while True:
            w=st.pop();on.discard(w);comp.append(w)
            if w==v:break
        if len(comp)>1: res.append(comp)
sys.setrecursionlimit(10000)
for v in mods:
    if v not in idx: sc(v)
for c in res: print('CYCLE:',sorted(c))
print('modules',len(mods))
